//! The e-mail channel: one message per alert over SMTP (`lettre`), with
//! STARTTLS (port 587) by default, implicit TLS (465) or, only where the
//! config says so, none. The subject is the alert's title, the text its body
//! and the snapshot link; the snapshot is attached as `snapshot.jpg`. The
//! `Message-ID` is derived from the alert id, so a retried alert is one
//! message to the mail client. The password is a `Secret`, never logged.
//! Server answers map as HTTP ones do: 4xx and connection trouble are
//! retried, 5xx (bad address, refused login) and an untrusted certificate are not.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{ENV_SMTP_PASSWORD, EmailConfig, EmailSecurity};
use super::{Alert, Delivery, Notifier, NotifyError, Secret, render};
use crate::domain::Level;
use crate::store::Channel;

pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    password: Option<Secret>,
    attach: bool,
    min_level: Level,
    timeout: Duration,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

fn config_error(message: String) -> NotifyError {
    NotifyError::Permanent { status: None, message }
}

impl EmailNotifier {
    pub fn new(cfg: &EmailConfig, timeout: Duration) -> Result<Self, NotifyError> {
        let p = "alerts.email";
        let from: Mailbox = cfg.from.parse().map_err(|e| config_error(format!("{p}.from = {:?}: {e}", cfg.from)))?;
        let to = cfg
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>().map_err(|e| config_error(format!("{p}.to = {t:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tls = TlsParameters::builder(cfg.server.clone());
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| config_error(format!("{p}.ca_file = {:?}: {e}", ca.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| config_error(format!("{p}.ca_file = {:?}: not a PEM certificate: {e}", ca.display())))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = || tls.clone().build_rustls().map_err(|e| config_error(format!("{p}: TLS set-up: {e}")));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.server.as_str())
            .port(cfg.port())
            .timeout(Some(timeout));
        builder = match cfg.security {
            EmailSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
            EmailSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
            EmailSecurity::None => builder.tls(Tls::None),
        };
        let password = Secret::resolve(cfg.password.as_ref(), ENV_SMTP_PASSWORD);
        if let Some(user) = &cfg.username {
            let pass = password.as_ref().map(|s| s.expose().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), pass));
        }
        Ok(EmailNotifier {
            transport: builder.build(),
            server: format!("{}:{}", cfg.server, cfg.port()),
            from,
            to,
            password,
            attach: cfg.attach_snapshot,
            min_level: cfg.min_level,
            timeout,
        })
    }

    fn message(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Message, NotifyError> {
        // The body already carries the snapshot link when there is one.
        let mut text = render::body(alert);
        text.push_str("\n\n-- \nlayerwatch\n");
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(render::title(alert))
            .message_id(Some(format!("<{}@layerwatch>", alert.id)))
            .date(std::time::UNIX_EPOCH + Duration::from_millis(alert.time.millis().max(0) as u64));
        for to in &self.to {
            m = m.to(to.clone());
        }
        let built = match snapshot.filter(|_| self.attach) {
            Some(jpeg) => m.multipart(
                MultiPart::mixed().singlepart(SinglePart::plain(text)).singlepart(
                    Attachment::new("snapshot.jpg".into())
                        .body(jpeg.to_vec(), ContentType::parse("image/jpeg").expect("a valid content type")),
                ),
            ),
            None => m.body(text),
        };
        built.map_err(|e| NotifyError::Permanent { status: None, message: format!("cannot build the message: {e}") })
    }
}

/// The server's certificate was refused (unknown issuer, wrong name, expired):
/// lettre reports it as a connection error, but trying again will not help.
fn untrusted_certificate(e: &lettre::transport::smtp::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|i| i.downcast_ref::<rustls::Error>())
        });
        if matches!(tls, Some(rustls::Error::InvalidCertificate(_))) {
            return true;
        }
        cur = err.source();
    }
    false
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn min_level(&self) -> Level {
        self.min_level
    }

    async fn send(&self, alert: &Alert, snapshot: Option<&[u8]>) -> Result<Delivery, NotifyError> {
        let message = self.message(alert, snapshot)?;
        match tokio::time::timeout(self.timeout * 2, self.transport.send(message)).await {
            Err(_) => Err(NotifyError::Retryable {
                status: None,
                retry_after: None,
                message: format!("{}: no answer within {} ms", self.server, (self.timeout * 2).as_millis()),
            }),
            Ok(Ok(resp)) => {
                let code = resp.code().to_string().parse::<u16>().unwrap_or(250);
                let id = resp.message().next().map(|s| s.to_string());
                Ok(Delivery { status: code, remote_id: id })
            }
            Ok(Err(e)) => {
                let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
                let mut message = format!("{}: {e}", self.server);
                if let Some(p) = &self.password {
                    message = p.scrub(&message);
                }
                if e.is_permanent() || e.is_tls() || untrusted_certificate(&e) {
                    Err(NotifyError::Permanent { status: code, message })
                } else {
                    Err(NotifyError::Retryable { status: code, retry_after: None, message })
                }
            }
        }
    }
}
