"""Image augmentations, all on uint8 RGB numpy arrays (H, W, 3), driven by an explicit numpy Generator.

Every pipeline ends with the deployment resize (stretch to size x size, see common.stretch_resize), so the
network always sees what the Rust daemon feeds it: a whole frame or ROI squashed to a square.

* `light_augment`: the standard baseline -- random resized crop + horizontal flip.
* `printer_camera_augment`: mimics a fixed printer webcam. Geometry first (on the source image):
    - zoom-out: the photo is shrunk into a wider 4:3 / 16:9 frame (print small in a wide field) over a
      plausible background: a blurred, darkened enlargement of the photo itself, a real printer-camera frame of a
      normal print from the training split (emptydeck/scythe), or a dark synthetic gradient with texture;
    - perspective warp (oblique camera), small rotation, rare 180 degree turn (upside-down mounts);
    - random crop with a wide aspect range (the stretch resize turns it into aspect distortion), flip.
  Then the camera/photometric chain at network resolution:
    - low light (exposure scale) and gamma, contrast;
    - white-balance / LED colour casts (per-channel gains, sometimes strongly purple/blue/amber), saturation;
    - grayscale or IR-night look (grey with a faint magenta tint);
    - vignetting; Gaussian blur (defocus) or linear motion blur;
    - sensor noise: signal-dependent shot noise + read noise, stronger in dark frames, optional chroma noise;
    - MJPEG re-compression at low quality (15-70).
* `camera_degrade`: a FIXED set of six named degradation presets for the "camera-degraded" evaluation
  (preset = index mod 6, parameters drawn from a per-image seeded generator). It reuses the same primitives as
  the printer-camera augmentation with fixed, mostly harsher settings, so it measures robustness to these
  effects, not to real unseen cameras (the team's separate set does that).
"""
import cv2
import numpy as np

from common import stretch_resize

cv2.setNumThreads(1)


# ---------------------------------------------------------------- geometry
def random_resized_crop(img, rng, scale=(0.4, 1.0), ratio=(0.75, 1.333)):
    h, w = img.shape[:2]
    area = h * w
    for _ in range(10):
        a = area * rng.uniform(*scale)
        r = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        cw, ch = int(round(np.sqrt(a * r))), int(round(np.sqrt(a / r)))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            return img[y : y + ch, x : x + cw]
    return img


def _background(img, out_w, out_h, rng, bg_pool):
    kind = rng.choice(3, p=[0.4, 0.3, 0.3]) if bg_pool else rng.choice([0, 2])
    if kind == 0:  # blurred, darkened enlargement of the photo itself: out-of-focus surroundings
        bg = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=rng.uniform(8, 25))
        return (bg * rng.uniform(0.3, 0.8)).astype(np.uint8)
    if kind == 1:  # a real printer-camera frame of a normal print
        bg = bg_pool[rng.integers(len(bg_pool))]
        bg = random_resized_crop(bg, rng, scale=(0.5, 1.0), ratio=(1.0, 2.0))
        return cv2.resize(bg, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    # dark synthetic enclosure: vertical gradient, random tint, low-frequency texture
    top, bottom = rng.uniform(10, 120), rng.uniform(10, 160)
    grad = np.linspace(top, bottom, out_h, dtype=np.float32)[:, None, None]
    tint = rng.uniform(0.7, 1.3, size=3).astype(np.float32)
    tex = cv2.resize(rng.normal(0, 20, size=(max(2, out_h // 16), max(2, out_w // 16), 1)).astype(np.float32),
                     (out_w, out_h), interpolation=cv2.INTER_CUBIC)[:, :, None]
    return np.clip(grad * tint + tex, 0, 255).astype(np.uint8)


def zoom_out(img, rng, bg_pool=None, frac=(0.3, 0.8)):
    """Place img, shrunk to `frac` of the frame width, into a wider 4:3 or 16:9 webcam frame."""
    h, w = img.shape[:2]
    aspect = rng.choice([4 / 3, 16 / 9])
    out_w = int(max(w, h * aspect) / rng.uniform(*frac))
    out_w = min(out_w, 4 * max(w, h))
    out_h = int(out_w / aspect)
    s = min(out_w * rng.uniform(*frac) / w, out_h * 0.95 / h)
    pw, ph = max(8, int(w * s)), max(8, int(h * s))
    small = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)
    canvas = _background(img, out_w, out_h, rng, bg_pool)
    x = rng.integers(0, out_w - pw + 1)
    y = rng.integers(int(0.1 * (out_h - ph)), out_h - ph + 1)  # prints sit low-to-mid frame
    # feathered paste so the seam is not a hard edge the net can latch on to
    mask = np.zeros((ph, pw), np.float32)
    m = max(1, min(pw, ph) // 12)
    mask[m:-m, m:-m] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=m / 2 + 0.5)[:, :, None]
    roi = canvas[y : y + ph, x : x + pw].astype(np.float32)
    canvas[y : y + ph, x : x + pw] = (mask * small + (1 - mask) * roi).astype(np.uint8)
    return canvas


def perspective(img, rng, strength=0.12, rot_deg=12.0):
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jit = rng.uniform(-strength, strength, size=(4, 2)) * np.float32([w, h])
    dst = (src + jit).astype(np.float32)
    ang = np.deg2rad(rng.uniform(-rot_deg, rot_deg))
    c, s = np.cos(ang), np.sin(ang)
    ctr = np.float32([w / 2, h / 2])
    dst = ((dst - ctr) @ np.float32([[c, -s], [s, c]]).T + ctr).astype(np.float32)
    # map the warped quad back to the full frame, so the print fills it (no big empty wedges)
    x0, y0 = dst.min(0)
    x1, y1 = dst.max(0)
    dst = (dst - [x0, y0]) * [w / (x1 - x0), h / (y1 - y0)]
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    return cv2.warpPerspective(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


# ---------------------------------------------------------------- photometric (float32 0..255)
def exposure_gamma(x, rng, scale=(0.3, 1.15), gamma=(0.8, 1.6)):
    x = 255.0 * (x / 255.0) ** rng.uniform(*gamma)
    return x * rng.uniform(*scale)


def colour_cast(x, rng, strong=False):
    gains = rng.uniform(0.65, 1.35, size=3)
    if strong:  # LED casts: purple/blue/amber/green
        gains = np.array([[1.3, 0.7, 1.35], [0.7, 0.85, 1.4], [1.35, 1.05, 0.6], [0.8, 1.3, 0.8]])[rng.integers(4)]
        gains = gains * rng.uniform(0.85, 1.15, size=3)
    x = x * gains.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.3, 1.3)  # saturation
    m = x.mean()
    return m + (x - m) * rng.uniform(0.6, 1.3)  # contrast


def greyscale(x, rng, ir=False):
    g = x @ np.float32([0.299, 0.587, 0.114])
    x = np.repeat(g[:, :, None], 3, axis=2)
    if ir:  # night-vision look: grey with a faint magenta tint, lifted blacks
        x = x * np.float32([1.05, 0.92, 1.08]) + rng.uniform(5, 25)
    return x


def vignette(x, rng):
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    return x * (1 - rng.uniform(0.2, 0.6) * np.clip(r2 / 2, 0, 1))[:, :, None]


def gaussian_blur(x, rng, sigma=(0.6, 2.0)):
    return cv2.GaussianBlur(x, (0, 0), sigmaX=rng.uniform(*sigma))


def motion_blur(x, rng, length=(3, 11)):
    k = int(rng.integers(length[0], length[1] + 1))
    ker = np.zeros((k, k), np.float32)
    ker[k // 2, :] = 1.0
    R = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
    ker = cv2.warpAffine(ker, R, (k, k))
    return cv2.filter2D(x, -1, ker / max(ker.sum(), 1e-6))


def sensor_noise(x, rng, read=(2, 10), shot=(0.3, 1.5), chroma=0.5):
    x = np.clip(x, 0, 255)
    std = np.sqrt(rng.uniform(*shot) * x + rng.uniform(*read) ** 2)
    if rng.random() < chroma:
        n = rng.standard_normal(x.shape).astype(np.float32)
    else:
        n = np.repeat(rng.standard_normal(x.shape[:2] + (1,)).astype(np.float32), 3, axis=2)
    return x + n * std


def jpeg(x, rng, quality=(15, 70)):
    u8 = np.clip(x, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(*quality))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32)


# ---------------------------------------------------------------- pipelines
def light_augment(img, size, rng):
    img = random_resized_crop(img, rng, scale=(0.4, 1.0))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return stretch_resize(np.ascontiguousarray(img), size)


def printer_camera_augment(img, size, rng, bg_pool=None):
    # geometry
    if rng.random() < 0.35:
        img = zoom_out(img, rng, bg_pool)
    if rng.random() < 0.5:
        img = perspective(img, rng)
    if rng.random() < 0.05:
        img = img[::-1, ::-1]
    img = random_resized_crop(img, rng, scale=(0.4, 1.0), ratio=(0.5, 2.0))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    x = stretch_resize(np.ascontiguousarray(img), size).astype(np.float32)
    # camera chain; each step independent
    if rng.random() < 0.5:
        x = exposure_gamma(x, rng)
    if rng.random() < 0.6:
        x = colour_cast(x, rng, strong=rng.random() < 0.3)
    r = rng.random()
    if r < 0.08:
        x = greyscale(x, rng)
    elif r < 0.13:
        x = greyscale(x, rng, ir=True)
    if rng.random() < 0.2:
        x = vignette(x, rng)
    r = rng.random()
    if r < 0.2:
        x = gaussian_blur(x, rng)
    elif r < 0.35:
        x = motion_blur(x, rng)
    if rng.random() < 0.5:
        x = sensor_noise(x, rng)
    if rng.random() < 0.5:
        x = jpeg(x, rng)
    return np.clip(x, 0, 255).astype(np.uint8)


PRESETS = ["dim_warm_led", "purple_led_noisy", "ir_night", "motion_mjpeg", "wide_small_print", "oblique_cheap"]


def camera_degrade(img, size, index, seed=1234):
    """Deterministic printer-camera degradation of one evaluation image (preset = index mod 6)."""
    rng = np.random.default_rng([seed, index])
    preset = PRESETS[index % len(PRESETS)]
    if preset == "wide_small_print":
        img = zoom_out(img, rng, None, frac=(0.35, 0.5))
    elif preset == "oblique_cheap":
        img = perspective(img, rng, strength=0.15, rot_deg=15)
    x = stretch_resize(np.ascontiguousarray(img), size).astype(np.float32)
    if preset == "dim_warm_led":
        x = exposure_gamma(x, rng, scale=(0.3, 0.45), gamma=(1.3, 1.6))
        x = x * np.float32([1.25, 1.0, 0.65])
        x = sensor_noise(x, rng, read=(4, 8))
    elif preset == "purple_led_noisy":
        x = colour_cast(x, rng, strong=False) * np.float32([1.3, 0.7, 1.35])
        x = sensor_noise(x, rng, read=(6, 10), shot=(1.0, 1.5))
        x = jpeg(x, rng, quality=(30, 45))
    elif preset == "ir_night":
        x = greyscale(exposure_gamma(x, rng, scale=(0.4, 0.6), gamma=(1.2, 1.4)), rng, ir=True)
        x = sensor_noise(x, rng, read=(5, 8))
        x = gaussian_blur(x, rng, sigma=(0.8, 1.2))
    elif preset == "motion_mjpeg":
        x = motion_blur(x, rng, length=(7, 11))
        x = jpeg(x, rng, quality=(15, 25))
    elif preset == "wide_small_print":
        x = exposure_gamma(x, rng, scale=(0.6, 0.8), gamma=(1.0, 1.2))
        x = jpeg(x, rng, quality=(35, 50))
    elif preset == "oblique_cheap":
        x = vignette(colour_cast(x, rng), rng)
        x = sensor_noise(gaussian_blur(x, rng, sigma=(0.8, 1.5)), rng, read=(3, 6))
        x = jpeg(x, rng, quality=(25, 40))
    return np.clip(x, 0, 255).astype(np.uint8)
