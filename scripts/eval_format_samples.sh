#!/usr/bin/env bash
# Rebuilds datasets/formats/: one small example of each layout `layerwatch dataset import`
# reads, made only from the licence-OK images in datasets/samples/ (see datasets/README.md).
#   class-folders/test/<label>/*.jpg   the 11 Auto-ZMJ2N samples by label (CC BY 4.0)
#   yolo/                              a Roboflow-style YOLO export: the 3 rf_qa3dprinting samples with
#                                      their real `fail` boxes (Public Domain, from the source's labels)
#                                      and 3 normal Auto-ZMJ2N samples without boxes (background images)
#   csv/annotations.csv                another CSV dialect (`image,class,note`) pointing at the samples
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
s="$root/datasets/samples"
out="$root/datasets/formats"
rm -rf "$out/class-folders" "$out/yolo" "$out/csv"
mkdir -p "$out/class-folders/test" "$out/yolo/valid/images" "$out/yolo/valid/labels" \
  "$out/yolo/test/images" "$out/yolo/test/labels" "$out/csv"
tail -n +2 "$s/labels.csv" | while IFS=, read -r path label _rest; do
  case "$path" in images/autozmj2n/*)
    mkdir -p "$out/class-folders/test/$label"
    cp "$s/$path" "$out/class-folders/test/$label/" ;;
  esac
done
cat > "$out/yolo/data.yaml" <<'YAML'
# Roboflow-style export (YOLOv8 layout). Class 0 is the source's only class.
train: ../train/images
val: ../valid/images
test: ../test/images
nc: 1
names: ['fail']
YAML
a=images/rf_qa3dprinting
cp "$s/$a/265dd6613d083032eb14eb7ca924a653_jpg_rf_5eafb62f2f1fc522b429.jpg" "$out/yolo/valid/images/"
printf '0 0.313702 0.215144 0.091346 0.045673\n0 0.537260 0.564904 0.081731 0.055288\n0 0.557692 0.689904 0.062500 0.168269\n0 0.396635 0.679087 0.031250 0.084135\n0 0.540865 0.810096 0.036058 0.045673\n0 0.390625 0.787260 0.040865 0.060096\n' \
  > "$out/yolo/valid/labels/265dd6613d083032eb14eb7ca924a653_jpg_rf_5eafb62f2f1fc522b429.txt"
cp "$s/$a/Capture-d-ecran--309-_jpg_rf_93834206dba1b4321be69fa9069194e.jpg" "$out/yolo/valid/images/"
printf '0 0.841346 0.556490 0.317308 0.348558\n' > "$out/yolo/valid/labels/Capture-d-ecran--309-_jpg_rf_93834206dba1b4321be69fa9069194e.txt"
cp "$s/$a/jX8GnXD_jpg_rf_5d46bc969b0002dcad3931da0c75da15.jpg" "$out/yolo/test/images/"
printf '0 0.378606 0.525240 0.367788 0.442308\n0 0.600962 0.135817 0.485577 0.271635\n' \
  > "$out/yolo/test/labels/jX8GnXD_jpg_rf_5d46bc969b0002dcad3931da0c75da15.txt"
for n in OK2_94_jpg_rf_e5f67b25cbcb69cc6ba699cf86b6930f OK2_46_jpg_rf_9049e88f3b54638c9eddf8c7d2900e99; do
  cp "$s/images/autozmj2n/$n.jpg" "$out/yolo/valid/images/"
  : > "$out/yolo/valid/labels/$n.txt"   # background image: an empty label file
done
cp "$s/images/autozmj2n/OK2_9_jpg_rf_4973cd30ebdc33bb255e71b393717ec6.jpg" "$out/yolo/test/images/"  # no label file at all
{
  echo "image,class,note"
  tail -n +2 "$s/labels.csv" | while IFS=, read -r path label _rest; do
    case "$label" in normal) c=OK ;; failure) c=fail ;; *) c="$label" ;; esac
    echo "../../samples/$path,$c,from datasets/samples"
  done
} > "$out/csv/annotations.csv"
echo "rebuilt $out"
