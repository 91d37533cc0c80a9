"""Where the DAMSM's words look: attention maps of a trained run, and how localised they are.

Draws, for the first validation pairs of a run, each word's attention over
the image regions (the maps TensorBoard shows as `damsm/attention`) into one
PNG, and prints over `--num_pairs` validation pairs:

- the region grid (3 x 3 for `mixed7` at 75 px, 7 x 7 at 139 px);
- `normalized_entropy` (1 = uniform maps, 0 = one region per word);
- `product_mass`: attention weight on the regions the product covers, and
  `peak_on_product`: how often a word's most attended region is on the
  product, both beside `product_area`, what uniform (or random) maps give
  (`fashion_t2i.metrics.attention_localisation`).

`--similarity_attention` / `--gamma1` read the same DAMSM's maps with another
attention than the one it trained with (its features are the same): where
the words' nearest regions are, apart from how the attention normalises them.

Run:
    python -m benchmarks.attention_maps --workdir runs/demo --out docs/attention.png
"""

import sys

import numpy as np
from absl import app
from absl import flags
from PIL import Image

from fashion_t2i.config.model_config import SIMILARITY_ATTENTION

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("workdir", "runs/demo", "A run whose DAMSM phase has finished.")
    flags.DEFINE_string("out", "", "PNG of the first --shown pairs' maps ('' for none).")
    flags.DEFINE_integer("num_pairs", 256, "Validation pairs the numbers average over.")
    flags.DEFINE_integer("shown", 6, "Pairs drawn in the PNG.")
    flags.DEFINE_integer("words", 8, "Words drawn per pair.")
    flags.DEFINE_integer("scale", 3, "Pixel scale of the drawn images.")
    flags.DEFINE_enum(
        "similarity_attention", None, SIMILARITY_ATTENTION,
        "Read the maps with this attention instead of the run's.",
    )
    flags.DEFINE_float("gamma1", None, "Read the maps with this gamma1 instead of the run's.")


def measure(context, damsm, num_pairs, config=None):
    """Attention maps and localisation of the first `num_pairs` validation pairs.

    `config` (default: the run's) gives the attention and gamma1 the maps
    are computed with.

    Returns:
        `(batch, attention, result)`: the validation batch, its [B, T, h, w]
        maps and `attention_localisation`'s dict plus `grid`.
    """
    from fashion_t2i.evaluation_hooks import damsm_attention_localisation

    batch = context.fixed_validation_batch(num_pairs)
    attention, result = damsm_attention_localisation(damsm, batch, config or context.config)
    result["grid"] = f"{attention.shape[2]}x{attention.shape[3]}"
    return batch, attention, result


def main(argv):
    del argv
    from fashion_t2i import visualization
    from fashion_t2i.run_context import RunContext

    overrides = {
        name: value
        for name, value in (
            ("similarity_attention", FLAGS.similarity_attention), ("gamma1", FLAGS.gamma1)
        )
        if value is not None
    }
    try:
        context = RunContext.open(FLAGS.workdir)
        config = context.config.replace(model=overrides)
        damsm = context.restore_damsm()
        batch, attention, result = measure(context, damsm, FLAGS.num_pairs, config)
    except (FileNotFoundError, ValueError) as e:
        # No trained DAMSM, or its data files are gone.
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    model = config.model
    read_as = " (not the run's)" if overrides else ""
    print(
        f"{FLAGS.workdir}: {model.region_layer} at {model.image_encoder_size} px, "
        f"trunk {model.image_encoder_weights or 'trained from scratch'}, "
        f"{model.similarity_attention} attention, gamma1 {model.gamma1:g}{read_as}: "
        f"{result['grid']} regions over {FLAGS.num_pairs} pairs: normalized entropy "
        f"{result['normalized_entropy']:.4f} (uniform 1), attention on the product "
        f"{result['product_mass']:.4f}, peak on the product {result['peak_on_product']:.3f} "
        f"(its area {result['product_area']:.3f})"
    )
    if FLAGS.out:
        shown = FLAGS.shown
        tokens = context.tokenizer.detokenize(batch["token_ids"][:shown]).numpy()
        lengths = batch["lengths"][:shown].numpy()
        images = batch["images"][-1][:shown].numpy()
        if FLAGS.scale > 1:
            images = np.repeat(np.repeat(images, FLAGS.scale, 1), FLAGS.scale, 2)
        grid = visualization.image_grid(
            visualization.attention_overlays(
                images, attention[:shown], FLAGS.words,
                words=[row[:n] for row, n in zip(tokens, lengths)],
            )
        )
        Image.fromarray(grid).save(FLAGS.out)
        print(f"wrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    define_flags()
    sys.exit(app.run(main))
