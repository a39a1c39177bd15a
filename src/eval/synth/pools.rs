//! Which labelled images the synthetic sequences draw from: the `--where`
//! row filters, the `--pick` list and the failure kinds asked for, applied to
//! the loaded images and sorted into pools of normal images and of failure
//! images by label.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::SynthOptions;
use crate::eval::dataset::LabelledImage;
use crate::eval::error::EvalError;

/// A row filter: `column=value` (exact) or `column^=prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    pub value: String,
    pub prefix: bool,
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter, EvalError> {
        let bad = || EvalError::invalid(format!("--where {s:?}"), "expected COLUMN=VALUE or COLUMN^=PREFIX");
        if let Some((c, v)) = s.split_once("^=") {
            return (!c.trim().is_empty())
                .then(|| Filter { column: c.trim().to_ascii_lowercase(), value: v.to_string(), prefix: true })
                .ok_or_else(bad);
        }
        let (c, v) = s.split_once('=').ok_or_else(bad)?;
        (!c.trim().is_empty())
            .then(|| Filter { column: c.trim().to_ascii_lowercase(), value: v.to_string(), prefix: false })
            .ok_or_else(bad)
    }

    fn matches(&self, img: &LabelledImage) -> bool {
        let v = match self.column.as_str() {
            "label" => Some(img.label.as_str()),
            "path" => Some(img.name.as_str()),
            c => img.columns.get(c).map(String::as_str),
        };
        v.is_some_and(|v| if self.prefix { v.starts_with(&self.value) } else { v == self.value })
    }
}

/// Pools of images by role.
pub(super) struct Pools<'a> {
    pub(super) normal: Vec<&'a LabelledImage>,
    pub(super) by_label: BTreeMap<String, Vec<&'a LabelledImage>>,
}

impl<'a> Pools<'a> {
    /// The usable images among `images` (after filters, pick and kinds), sorted
    /// by role; an error names the option that left a pool empty.
    pub(super) fn select(images: &'a [LabelledImage], opts: &SynthOptions) -> Result<Pools<'a>, EvalError> {
        let mut by_col: BTreeMap<&str, Vec<&Filter>> = BTreeMap::new();
        for f in &opts.filters {
            by_col.entry(&f.column).or_default().push(f);
        }
        let pick = opts.pick.as_deref().map(read_pick).transpose()?;
        if let Some(p) = &pick {
            let known: BTreeSet<&str> = images.iter().map(|i| i.name.as_str()).collect();
            if let Some(missing) = p.iter().find(|n| !known.contains(n.as_str())) {
                return Err(EvalError::invalid(
                    format!("--pick {}", opts.pick.as_deref().unwrap_or(Path::new("")).display()),
                    format!(
                        "{missing} is not a usable image of {} (with the split and filters given)",
                        opts.images.display()
                    ),
                ));
            }
        }
        let usable: Vec<&LabelledImage> = images
            .iter()
            .filter(|i| by_col.values().all(|fs| fs.iter().any(|f| f.matches(i))))
            .filter(|i| pick.as_ref().is_none_or(|p| p.contains(&i.name)))
            .collect();
        let mut pools = Pools { normal: vec![], by_label: BTreeMap::new() };
        for i in usable {
            if i.failure {
                pools.by_label.entry(crate::eval::taxonomy::normalise(&i.label)).or_default().push(i);
            } else {
                pools.normal.push(i);
            }
        }
        if !opts.kinds.is_empty() {
            let want: Vec<String> = opts.kinds.iter().map(|k| crate::eval::taxonomy::normalise(k)).collect();
            pools.by_label.retain(|k, _| want.contains(k));
        }
        if pools.normal.is_empty() {
            return Err(EvalError::dataset(&opts.images, "no normal images left after split, filters and --pick"));
        }
        if opts.failure_share > 0.0 && pools.by_label.is_empty() {
            return Err(EvalError::dataset(
                &opts.images,
                "no failure images of the requested kinds left after split, filters and --pick",
            ));
        }
        Ok(pools)
    }
}

fn read_pick(path: &Path) -> Result<BTreeSet<String>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use expect_test::expect;

    use super::{Filter, Pools};
    use crate::eval::dataset::LabelledImage;
    use crate::eval::synth::SynthOptions;

    fn image(name: &str, label: &str, source: &str) -> LabelledImage {
        LabelledImage {
            path: name.into(),
            name: name.into(),
            label: label.into(),
            class: label.into(),
            failure: label != "normal",
            line: None,
            columns: BTreeMap::from([("source".to_string(), source.to_string())]),
        }
    }

    fn names(pools: &Pools<'_>) -> String {
        let by_label: Vec<String> = pools
            .by_label
            .iter()
            .map(|(l, v)| format!("{l}: {}", v.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(" ")))
            .collect();
        let normal: Vec<&str> = pools.normal.iter().map(|i| i.name.as_str()).collect();
        format!("normal: {}; {}", normal.join(" "), by_label.join("; "))
    }

    #[test]
    fn filters_parse_or_name_the_bad_value() {
        let parsed: Vec<String> = ["source=lab", "Source^=rf", "label=", "=x", "nothing"]
            .iter()
            .map(|s| match Filter::parse(s) {
                Ok(f) => format!("{} {} {:?}", f.column, if f.prefix { "^=" } else { "=" }, f.value),
                Err(e) => e.to_string(),
            })
            .collect();
        expect![[r#"
            source = "lab"
            source ^= "rf"
            label = ""
            --where "=x": expected COLUMN=VALUE or COLUMN^=PREFIX
            --where "nothing": expected COLUMN=VALUE or COLUMN^=PREFIX"#]]
        .assert_eq(&parsed.join("\n"));
    }

    #[test]
    fn filters_or_within_a_column_and_across_columns_then_kinds() {
        let images = vec![
            image("a.jpg", "normal", "lab"),
            image("b.jpg", "spaghetti", "rf1"),
            image("c.jpg", "stringing", "rf2"),
            image("d.jpg", "normal", "web"),
            image("e.jpg", "spaghetti", "web"),
        ];
        let mut opts = SynthOptions::new(Path::new("imgs"), Path::new("p.gcode"), Path::new("out"));
        opts.filters = ["source=lab", "source^=rf"].iter().map(|s| Filter::parse(s).unwrap()).collect();
        let pools = Pools::select(&images, &opts).unwrap();
        expect!["normal: a.jpg; spaghetti: b.jpg; stringing: c.jpg"].assert_eq(&names(&pools));
        opts.kinds = vec!["stringing".into()];
        let pools = Pools::select(&images, &opts).unwrap();
        expect!["normal: a.jpg; stringing: c.jpg"].assert_eq(&names(&pools));
        opts.filters.push(Filter::parse("label=spaghetti").unwrap());
        let err = Pools::select(&images, &opts).err().map(|e| e.to_string());
        expect![[r#"Some("imgs: no normal images left after split, filters and --pick")"#]]
            .assert_eq(&format!("{err:?}"));
    }
}
