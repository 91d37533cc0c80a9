"""Named presets: `smoke` (tests, seconds), `demo` (embedded data, CPU), `catalogue`
(a shop's own catalogue, CPU), `fashiongen`."""

from fashion_t2i.config.config import Config
from fashion_t2i.config.data_config import DataConfig
from fashion_t2i.config.export_config import ExportConfig
from fashion_t2i.config.model_config import ModelConfig
from fashion_t2i.config.text_config import TextConfig
from fashion_t2i.config.train_config import TrainConfig
from fashion_t2i.config.trunk_config import TrunkConfig


def _smoke():
    return Config(
        preset="smoke",
        data=DataConfig(
            batch_size=4,
            shuffle_buffer=16,
            block_size=8,
            fashion_mnist_dir="data/fashion_mnist_smoke",
            fashion_mnist_size=32,
            fashion_mnist_train_limit=128,
            fashion_mnist_validation_limit=128,
        ),
        text=TextConfig(max_words=8),
        model=ModelConfig(
            embedding_dim=16,
            joint_dim=16,
            image_encoder_size=75,
            # A frozen random trunk, as the demo freezes its pretrained one:
            # tracing InceptionV3's backward pass costs a smoke run more than
            # the rest of its DAMSM step (test_damsm turns training back on).
            train_image_trunk=False,
            z_dim=8,
            condition_dim=8,
            gf_dim=8,
            df_dim=8,
            stage1_size=16,
            num_refinement_stages=1,
            residual_blocks=1,
        ),
        train=TrainConfig(
            damsm_steps=2,
            gan_steps=2,
            checkpoint_every=1,
            log_every=1,
            image_every=1,
            eval_every=2,
        ),
        export=ExportConfig(max_batch=8),
    )


def _demo():
    return Config(
        preset="demo",
        # No crop or flip: the GAN sees about one epoch, where augmentation
        # only blurs the products (off: pattern accuracy of generated images
        # 0.41 -> 1.00 and class 0.28 -> 0.45 after 900 steps).
        data=DataConfig(batch_size=32, fashion_mnist_size=64, augment=False),
        # The vocabulary: the captions' words and the 50 000 most frequent
        # words of GloVe, whose vectors stay frozen (see docs/RESULTS.md,
        # "Free-form descriptions").
        text=TextConfig(max_words=12, pretrained_words=50_000),
        model=ModelConfig(
            word_vectors_path="glove-6b-50d",
            embedding_mode="table_and_projected",
            # Words no training caption used read as the training word
            # nearest to them (colour names by colour): on held-out synonyms,
            # colour 0.106 -> 0.505, class 0.370 -> 0.657; colour and garment
            # words first as the training word their WordNet synonyms name;
            # colour names compared with the training images' colours
            # (docs/RESULTS.md, "Words no caption used").
            unseen_words="vectors_colours_senses_and_images",
            embedding_dim=64,
            joint_dim=128,
            # No ImageNet weights offline: the trunk is first trained on the
            # class, colour and pattern of the training images, then frozen
            # (TrunkConfig below). Over a trunk trained from scratch in the
            # DAMSM phase, in-vocabulary R-precision rose 0.773 -> 0.894 and
            # class 0.572 -> 0.710 (docs/RESULTS.md, "The similarity loss").
            # At 75 px `mixed7` gives 3 x 3 regions, each seeing the whole
            # image; 139 px (7 x 7) costs 3.6x per trunk step. `mixed2` gives
            # 7 x 7 at 75 px, and with SCAN's cosine attention over them the
            # DAMSM's word maps sit on the product (peak on the product
            # 0.436 -> 0.802, chance 0.538) at the same R-precision, where
            # AttnGAN's attention left them below chance at any tap or size
            # (docs/RESULTS.md, "The similarity loss").
            image_encoder_weights="pretrain",
            image_encoder_size=75,
            region_layer="mixed2",
            similarity_attention="cosine",
            gamma1=9.0,
            z_dim=64,
            condition_dim=64,
            gf_dim=32,
            df_dim=32,
            # Each discriminator also names the product's class and colour
            # (AC-GAN heads, weight 3 below); at weight 2 and mode seeking 0.5, class of
            # all captions 0.708 -> 0.835 (real 0.793), variety 0.72 / 0.69 ->
            # 0.86 / 0.88 in one GAN phase on the same DAMSM (docs/RESULTS.md,
            # "Auxiliary heads").
            auxiliary_attributes=("class", "colour"),
            # Fashion-MNIST is 28 px: 16 px layout, 32 px refinement.
            stage1_size=16,
            num_refinement_stages=1,
            residual_blocks=2,
        ),
        # About 4 min on 2 fast cores (10 min on a 2-core AMD EPYC at 185
        # GFLOP/s): validation class accuracy of the trunk's head 0.684-0.696
        # (0.593 after 400 steps). Kept beside the data for other workdirs.
        trunk=TrunkConfig(steps=1200),
        # Sized so that `make train` (trunk, both phases and the export) fits
        # in 20 minutes on 2 CPU cores of a 470 GFLOP/s machine (18 min 16 s);
        # on the 185 GFLOP/s EPYC it takes 41 min (docs/RESULTS.md).
        # L_similarity is measured at every evaluation but not trained on:
        # over the frozen pretrained trunk, lambda = 1 and 5 (the seed's)
        # raised colour (0.978 -> 0.986 / 0.990) and R-precision but lowered
        # class (0.710 -> 0.696 / 0.608), variety (0.73 -> 0.52 / 0.48) and
        # domain FID (9 -> 13 / 28), at 1.9x the step time (docs/RESULTS.md,
        # "The similarity loss"). Without it the steps skip the image encoder.
        # Evaluation every 300 steps: at every 100 it took a sixth of the time.
        train=TrainConfig(
            # Over the frozen trunk a DAMSM step is 3x faster than over a
            # trunk it trains: in-vocabulary R-precision 0.826 after 700
            # steps, 0.878 after 1500.
            damsm_steps=1500,
            # Class accuracy still rises at 1500 steps; without the image
            # encoder in the step (1.44x faster) 2100 take the time 1500 did.
            # 3000 over 2100: domain FID 6.3 -> 5.0-5.2 in two trainings,
            # class +0.01, for under a minute more of `make train` on a quiet
            # machine (15 min 55 s).
            gan_steps=3000,
            similarity_weight=0.0,
            # Without the auxiliary heads class and variety traded along this
            # weight (class of all captions, variety pixel ratio): 0.25: 0.750,
            # 0.56; 1: 0.700, 0.71; 4: 0.660, 0.81 (docs/RESULTS.md, "Variety
            # and word edits").
            kl_weight=1.0,
            # MSGAN's term: with the class head alone, 0.1 / 0.2 / 0.3 / 0.4
            # gave variety 0.77 / 0.81 / 0.85 / 0.86 at class 0.83 / 0.81 /
            # 0.80 / 0.79, but colour edits drifted (followed 0.97 -> 0.85);
            # the colour head holds them (1.00). With both heads at weight 1
            # and 0.3 the class held under a colour edit 0.80 of the time; at
            # weight 2 and 0.5, 0.87. 1.28x the GAN step time. Over the cosine
            # DAMSM, weight 3 and 1.0 against 2 and 0.5: variety 0.88 / 0.92
            # against 0.81 / 0.86 at class 0.810 / 0.807 (real 0.796), class
            # kept under a colour edit 0.87 / 0.86, domain FID 7.2 / 5.4
            # (one GAN phase each on one DAMSM, docs/RESULTS.md).
            mode_seeking_weight=1.0,
            auxiliary_weight=3.0,
            # A random wrong caption names another colour, so D learnt to
            # check the colour only; the closest mismatched caption of the
            # batch mostly differs in class (`discriminator_check`: class
            # 0.79 -> 0.88).
            hard_mismatch=True,
            checkpoint_every=100,
            log_every=25,
            image_every=100,
            eval_every=300,
        ),
    )


def _catalogue():
    return Config(
        preset="catalogue",
        # The files `python -m fashion_t2i.data.convert_catalogue` writes in
        # README's walk-through; --train_path / --validation_path override.
        # Shop photos vary in framing, and a few hundred products are seen for
        # many epochs: AttnGAN's crop and flip stay on.
        data=DataConfig(
            train_path="data/catalogue_train.h5",
            validation_path="data/catalogue_validation.h5",
            batch_size=16,
            shuffle_buffer=1024,
        ),
        # Shop descriptions are longer than the embedded templates; a word seen
        # once in a few hundred captions is kept (min_count 1).
        # GloVe's most frequent words join the catalogue's own: a shop's
        # customers use words its catalogue never did.
        text=TextConfig(max_words=18, pretrained_words=50_000),
        model=ModelConfig(
            word_vectors_path="glove-6b-50d",
            embedding_mode="table_and_projected",
            unseen_words="vectors_colours_senses_and_images",
            embedding_dim=64,
            joint_dim=128,
            # ImageNet weights cannot be downloaded offline: the encoder starts
            # from random weights and is trained in the DAMSM phase, as in the
            # demo (--image_encoder_weights takes a local weights file).
            image_encoder_size=75,
            image_encoder_weights="",
            z_dim=64,
            condition_dim=64,
            gf_dim=32,
            df_dim=32,
            # A 32 px layout refined to 64 px.
            stage1_size=32,
            num_refinement_stages=1,
            residual_blocks=2,
        ),
        # Sized for about an hour on 2 CPU cores: at batch 16 a DAMSM step took
        # 0.5 s and a GAN step 1.2 s on 2 cores shared with four other
        # trainings (about a quarter of the machine), so alone about 0.15 s
        # and 0.4 s: 1000 + 6000 steps, with the evaluations, in about an
        # hour. As in the demo, an image encoder trained from scratch is
        # easily fooled, so the generator does not train on L_similarity
        # (measured at every evaluation instead).
        train=TrainConfig(
            damsm_steps=1000,
            gan_steps=6000,
            similarity_weight=0.0,
            hard_mismatch=True,
            checkpoint_every=200,
            log_every=25,
            image_every=200,
            eval_every=500,
        ),
    )


def _fashiongen():
    return Config(
        preset="fashiongen",
        data=DataConfig(
            train_path="fashiongen_256_256_train.h5",
            validation_path="fashiongen_256_256_validation.h5",
            batch_size=16,
        ),
        # --word_vectors takes larger vectors (e.g. GloVe 840B 300d as a text
        # file, with --word_vectors_dim 300).
        text=TextConfig(max_words=18, min_count=5, pretrained_words=50_000),
        model=ModelConfig(
            word_vectors_path="glove-6b-50d",
            embedding_mode="table_and_projected",
            unseen_words="vectors_colours_senses_and_images",
            embedding_dim=300,
            joint_dim=256,
            image_encoder_size=299,
            image_encoder_weights="imagenet",
            z_dim=100,
            condition_dim=100,
            gf_dim=32,
            df_dim=64,
            stage1_size=64,
            num_refinement_stages=2,
            residual_blocks=2,
        ),
        train=TrainConfig(
            damsm_steps=100_000,
            gan_steps=300_000,
            checkpoint_every=2000,
            log_every=100,
            image_every=2000,
            eval_every=5000,
        ),
    )


PRESETS = {
    "smoke": _smoke, "demo": _demo, "catalogue": _catalogue, "fashiongen": _fashiongen
}


def get_preset(name):
    """Returns the `Config` of a named preset.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]()
