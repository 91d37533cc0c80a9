"""Converts an own catalogue (images + captions.jsonl) to a Fashion-Gen schema HDF5 file.

    python -m fashion_t2i.data.convert_catalogue --image_dir shop/images \
        --out data/shop_train.h5 --size 256 --on_bad skip
"""

from absl import app, flags

from fashion_t2i.data import convert_catalogue_lib

_IMAGE_DIR = flags.DEFINE_string(
    "image_dir", None, "Folder the 'image' paths of the captions file are relative to."
)
_CAPTIONS = flags.DEFINE_string(
    "captions", None, "JSON-lines captions file; defaults to <image_dir>/captions.jsonl."
)
_OUT = flags.DEFINE_string("out", None, "The HDF5 file to write.")
_SIZE = flags.DEFINE_integer("size", 256, "Height and width of the stored images.")
_ON_BAD = flags.DEFINE_string(
    "on_bad", "error", "'error' stops at the first bad line; 'skip' leaves bad lines out."
)
flags.mark_flags_as_required(["image_dir", "out"])

# Skipped lines listed one by one before the rest is only counted.
_MAX_LISTED = 20


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    converter = convert_catalogue_lib.CatalogueConverter(
        image_dir=_IMAGE_DIR.value,
        captions_path=_CAPTIONS.value,
        size=_SIZE.value,
        on_bad=_ON_BAD.value,
    )
    summary = converter.convert(_OUT.value)
    for line_number, problem in summary["skipped_lines"][:_MAX_LISTED]:
        print(f"skipped {converter.captions_path}:{line_number}: {problem}")
    if summary["skipped"] > _MAX_LISTED:
        print(f"... and {summary['skipped'] - _MAX_LISTED} more skipped lines")
    print(f"wrote {summary['written']} examples to {summary['out']}, skipped {summary['skipped']}.")


if __name__ == "__main__":
    app.run(main)
