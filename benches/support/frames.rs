//! Camera-like 720p JPEGs for the capture benchmarks: shapes, sensor noise and
//! a frame number, encoded by OpenCV at quality 80 (about the size a webcam's
//! MJPEG frame of a print bed has).

use bytes::Bytes;
use opencv::core::{CV_8UC3, Mat, Point, Rect, Scalar, Vector};
use opencv::prelude::*;
use opencv::{core, imgcodecs, imgproc};

pub fn realistic_jpegs(n: usize, w: i32, h: i32) -> Vec<Bytes> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move |m: i32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m.max(1) as u64) as i32
    };
    (0..n)
        .map(|i| {
            let mut m = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::new(70.0, 80.0, 90.0, 0.0)).unwrap();
            for _ in 0..40 {
                let colour = Scalar::new(rnd(255) as f64, rnd(255) as f64, rnd(255) as f64, 0.0);
                let (x, y) = (rnd(w), rnd(h));
                if rnd(2) == 0 {
                    let r = Rect::new(x, y, rnd(w / 4) + 8, rnd(h / 4) + 8);
                    imgproc::rectangle(&mut m, r, colour, -1, imgproc::LINE_8, 0).unwrap();
                } else {
                    imgproc::circle(&mut m, Point::new(x, y), rnd(h / 6) + 4, colour, -1, imgproc::LINE_AA, 0).unwrap();
                }
            }
            let mut noise = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(0.0)).unwrap();
            core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(24.0)).unwrap();
            let mut noisy = Mat::default();
            core::add(&m, &noise, &mut noisy, &core::no_array(), -1).unwrap();
            let scale = f64::from(h) / 240.0;
            imgproc::put_text(
                &mut noisy,
                &format!("frame {i}"),
                Point::new(w / 20, h / 8),
                imgproc::FONT_HERSHEY_SIMPLEX,
                scale,
                Scalar::all(255.0),
                2,
                imgproc::LINE_AA,
                false,
            )
            .unwrap();
            let mut buf = Vector::<u8>::new();
            let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 80]);
            imgcodecs::imencode(".jpg", &noisy, &mut buf, &params).unwrap();
            Bytes::from(buf.to_vec())
        })
        .collect()
}
