//! The small linear algebra the camera model needs, in plain `f64` arrays:
//! 3-vectors and 3×3 matrices, rotation vectors (Rodrigues), a dense linear
//! solve with partial pivoting, and the eigenvector of the smallest eigenvalue
//! of a symmetric matrix (cyclic Jacobi). No allocation beyond `Vec` rows.

pub type V3 = [f64; 3];
pub type M3 = [[f64; 3]; 3];

pub fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn cross(a: V3, b: V3) -> V3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

pub fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

pub fn normalize(a: V3) -> V3 {
    let n = norm(a);
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

pub fn scale(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn mat_vec(m: &M3, v: V3) -> V3 {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

pub fn transpose(m: &M3) -> M3 {
    [[m[0][0], m[1][0], m[2][0]], [m[0][1], m[1][1], m[2][1]], [m[0][2], m[1][2], m[2][2]]]
}

pub fn mat_mul(a: &M3, b: &M3) -> M3 {
    let bt = transpose(b);
    [
        [dot(a[0], bt[0]), dot(a[0], bt[1]), dot(a[0], bt[2])],
        [dot(a[1], bt[0]), dot(a[1], bt[1]), dot(a[1], bt[2])],
        [dot(a[2], bt[0]), dot(a[2], bt[1]), dot(a[2], bt[2])],
    ]
}

pub fn det(m: &M3) -> f64 {
    dot(m[0], cross(m[1], m[2]))
}

/// Rotation matrix of a rotation vector (axis × angle, radians).
pub fn rodrigues(r: V3) -> M3 {
    let theta = norm(r);
    if theta < 1e-12 {
        return [[1.0, -r[2], r[1]], [r[2], 1.0, -r[0]], [-r[1], r[0], 1.0]];
    }
    let k = scale(r, 1.0 / theta);
    let (s, c) = theta.sin_cos();
    let v = 1.0 - c;
    [
        [c + k[0] * k[0] * v, k[0] * k[1] * v - k[2] * s, k[0] * k[2] * v + k[1] * s],
        [k[1] * k[0] * v + k[2] * s, c + k[1] * k[1] * v, k[1] * k[2] * v - k[0] * s],
        [k[2] * k[0] * v - k[1] * s, k[2] * k[1] * v + k[0] * s, c + k[2] * k[2] * v],
    ]
}

/// Rotation vector of a rotation matrix (inverse of [`rodrigues`]).
pub fn rotation_vector(m: &M3) -> V3 {
    let tr = m[0][0] + m[1][1] + m[2][2];
    let cos = ((tr - 1.0) / 2.0).clamp(-1.0, 1.0);
    let theta = cos.acos();
    let w = [m[2][1] - m[1][2], m[0][2] - m[2][0], m[1][0] - m[0][1]];
    if theta < 1e-9 {
        return scale(w, 0.5);
    }
    if std::f64::consts::PI - theta < 1e-6 {
        // Near 180°: the axis from the diagonal of (M + I) / 2.
        let i = (0..3).max_by(|&a, &b| m[a][a].total_cmp(&m[b][b])).unwrap_or(0);
        let mut axis = [0.0; 3];
        axis[i] = ((m[i][i] + 1.0) / 2.0).max(0.0).sqrt();
        for j in 0..3 {
            if j != i {
                axis[j] = (m[i][j] + m[j][i]) / (4.0 * axis[i].max(1e-12));
            }
        }
        let n = norm(axis).max(1e-12);
        return scale(axis, theta / n);
    }
    scale(w, theta / (2.0 * theta.sin()))
}

/// Solves `a · x = b` (square, row-major) by Gaussian elimination with
/// partial pivoting; `None` when `a` is (numerically) singular.
#[allow(clippy::needless_range_loop)] // row operations read clearer with indices
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let scale_max = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() <= 1e-14 * scale_max {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            if f != 0.0 {
                for k in col..n {
                    a[row][k] -= f * a[col][k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Eigenvalues and eigenvectors (columns of the returned matrix, as rows
/// `vecs[k]` = k-th eigenvector) of a symmetric matrix, by cyclic Jacobi.
#[allow(clippy::needless_range_loop)] // Jacobi rotations touch two columns at once
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let values: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    let vecs: Vec<Vec<f64>> = (0..n).map(|k| (0..n).map(|i| v[i][k]).collect()).collect();
    (values, vecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_vectors_round_trip() {
        for r in [[0.1, -0.2, 0.3], [2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [3.1, 0.0, 0.0]] {
            let m = rodrigues(r);
            assert!((det(&m) - 1.0).abs() < 1e-9);
            let back = rotation_vector(&m);
            let m2 = rodrigues(back);
            for i in 0..3 {
                for j in 0..3 {
                    assert!((m[i][j] - m2[i][j]).abs() < 1e-6, "{r:?} -> {back:?}");
                }
            }
        }
    }

    #[test]
    fn solve_and_eigen() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12, "{x:?}");
        assert!(solve(vec![vec![1.0, 2.0], vec![2.0, 4.0]], vec![1.0, 2.0]).is_none());
        let (vals, vecs) = symmetric_eigen(vec![vec![2.0, 1.0, 0.0], vec![1.0, 2.0, 0.0], vec![0.0, 0.0, 5.0]]);
        let k = (0..3).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap();
        assert!((vals[k] - 1.0).abs() < 1e-9, "{vals:?}");
        assert!((vecs[k][0] + vecs[k][1]).abs() < 1e-9 && vecs[k][2].abs() < 1e-9, "{:?}", vecs[k]);
    }
}
