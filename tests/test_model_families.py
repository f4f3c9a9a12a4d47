"""Every registered model family through the shared checks of `model_family_test_base`, plus the
registry, the one-of model config and the serialisation names."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import model_family_test_base as base
from ragan_tf.config import ConfigError, load_config, migrate_legacy
from ragan_tf.models.encoder_cdcgan.encoder_conditional_dcgan import switch_phase
from ragan_tf.models.registry import FAMILY_MODULES, family_names, get_family
from ragan_tf.models.tasks import tasks_of

REPO = Path(__file__).resolve().parents[1]


def target_groups(rng, examples, config):
    groups = config.data.num_age_groups
    return {"target_age_group": ((examples["age_group"] + rng.integers(1, groups, len(examples["age_group"])))
                                 % groups).astype("int32")}


def gan_noise(rng, examples, config):
    noise_dim = tasks_of(get_family(config.model.type).build_inference_model(config))["sampler"].noise_dim
    return {"noise": rng.standard_normal((len(examples["image"]), noise_dim)).astype("float32")}


def encoder_pairs(rng, examples, config):
    count = len(examples["image"])
    return {**gan_noise(rng, examples, config),
            "encoder_noise": rng.standard_normal((count, config.model.noise_dim)).astype("float32"),
            "encoder_age_group": rng.integers(0, config.data.num_age_groups, count).astype("int32")}


def vae_noise(rng, examples, config):
    return {"noise": rng.standard_normal((len(examples["image"]), config.model.latent_dim)).astype("float32")}


CASES = {
    "ragan": base.FamilyCase("ragan", "ragan_synthetic_tiny.yaml", ("model.sync_batch_norm=true",), target_groups),
    "dcgan": base.FamilyCase("dcgan", "dcgan_synthetic_tiny.yaml", ("model.sync_batch_norm=true",), gan_noise),
    "vanilla_gan": base.FamilyCase("vanilla_gan", "vanilla_gan_synthetic_tiny.yaml", (), gan_noise),
    "encoder_cdcgan": base.FamilyCase("encoder_cdcgan", "encoder_cdcgan_synthetic_tiny.yaml",
                                      ("model.sync_batch_norm=true",), encoder_pairs),
    "cvae": base.FamilyCase("cvae", "cvae_synthetic_tiny.yaml", (), vae_noise),
    "age_cgan": base.FamilyCase("age_cgan", "age_cgan_synthetic_tiny.yaml", ("model.sync_batch_norm=true",),
                                encoder_pairs),
    "encoder_cdcgan/encoder_phase": base.FamilyCase(
        "encoder_cdcgan", "encoder_cdcgan_synthetic_tiny.yaml", ("model.sync_batch_norm=true",), encoder_pairs,
        prepare=lambda model: switch_phase(model, "encoder", "test")),
}


def test_every_registered_family_has_a_case():
    assert {case.family for case in CASES.values()} == set(family_names())


@pytest.mark.parametrize("name", ["ragan", "dcgan", "vanilla_gan", "encoder_cdcgan", "cvae", "age_cgan"])
def test_eager_call(name):
    base.check_eager_call(CASES[name])


@pytest.mark.parametrize("name", ["ragan", "dcgan", "vanilla_gan", "encoder_cdcgan", "cvae", "age_cgan"])
def test_save_and_reload(name, tmp_path):
    base.check_save_and_reload(CASES[name], tmp_path)


@pytest.mark.parametrize("name", ["ragan", "dcgan", "vanilla_gan", "encoder_cdcgan", "cvae", "age_cgan"])
def test_mixed_precision(name):
    base.check_mixed_precision(CASES[name])


@pytest.mark.parametrize("name", list(CASES))
def test_xla_and_mirrored_steps_match_the_plain_one_device_step(name):
    model, logs = base.check_equivalent_runs(CASES[name])
    base.check_log_keys(CASES[name], model, logs)


def test_encoder_phase_trains_only_the_encoder_and_logs_the_gan_losses_as_unmeasured():
    case = CASES["encoder_cdcgan"]
    config, model = base.build(case)
    frozen = [v.numpy() for v in model.generator.weights + model.discriminator.weights + model.generator_ema.weights]
    encoder_before = [v.numpy() for v in model.encoder.trainable_weights]
    switch_phase(model, "encoder", "test")
    history = model.fit(base.random_batches(config, 2 * base.BATCH), epochs=1, verbose=0).history
    assert np.isfinite(history["encoder_loss"][0]) and history["encoder_loss"][0] > 0
    assert all(np.isnan(history[key][0]) for key in ("d_loss", "d_real", "d_fake", "g_loss"))
    after = [v.numpy() for v in model.generator.weights + model.discriminator.weights + model.generator_ema.weights]
    for a, b in zip(frozen, after):
        np.testing.assert_array_equal(a, b)
    assert max(np.abs(a - b.numpy()).max() for a, b in zip(encoder_before, model.encoder.trainable_weights)) > 0
    assert int(model.encoder_optimizer.iterations) == 2 and int(model.generator_optimizer.iterations) == 0


def test_encoder_learns_to_invert_a_fixed_generator():
    # The encoder's regression target is z itself: on a frozen generator a few hundred steps must
    # bring the latent MSE clearly below 1.0, the loss of always predicting the mean (0). At
    # DCGAN's N(0, 0.02) initialisation the untrained generator's outputs are ~1e-4 and carry
    # almost nothing of z (measured: the loss stays at ~1.0), so its kernels are scaled x4
    # (outputs ~0.03), as training would make them.
    case = CASES["encoder_cdcgan"]
    config, model = base.build(case, "model.noise_dim=8", "training.learning_rate=0.003")
    for variable in model.generator_ema.trainable_weights:
        if "kernel" in variable.path:
            variable.assign(variable * 4.0)
    switch_phase(model, "encoder", "test")
    data = base.random_batches(config, base.BATCH).repeat()
    history = model.fit(data, epochs=4, steps_per_epoch=60, verbose=0).history
    assert history["encoder_loss"][-1] < 0.6 * history["encoder_loss"][0], history["encoder_loss"]


# ------------------------------------------------------------------------------ registry, config
def test_unknown_family_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="known families: ragan, encoder_cdcgan, dcgan, vanilla_gan"):
        load_config(None, ["model.type=stylegan"])


def test_model_type_selects_the_family_config_and_keys_are_checked_per_family():
    config = load_config(REPO / "pipelines" / "dcgan_synthetic_tiny.yaml")
    assert type(config.model).__name__ == "DCGANConfig" and config.model.generator_channels == 16
    with pytest.raises(ConfigError, match="'model.lambda_rec' of model.type 'dcgan'"):
        load_config(REPO / "pipelines" / "dcgan_synthetic_tiny.yaml", ["model.lambda_rec=1"])
    # changing the type on the command line starts from that family's defaults
    switched = load_config(REPO / "pipelines" / "ragan_synthetic_tiny.yaml", ["model.type=vanilla_gan"])
    assert switched.model.type == "vanilla_gan" and switched.model.filters == 128


def test_family_checks_run_before_anything_is_built():
    with pytest.raises(ConfigError, match="power of two"):
        load_config(REPO / "pipelines" / "dcgan_synthetic_tiny.yaml", ["data.image_size=48"])
    with pytest.raises(ConfigError, match="encoder_epochs"):
        load_config(REPO / "pipelines" / "encoder_cdcgan_synthetic_tiny.yaml", ["model.encoder_epochs=3"])
    with pytest.raises(ConfigError, match="at least 2 age groups"):
        load_config(REPO / "pipelines" / "encoder_cdcgan_synthetic_tiny.yaml", ["data.age_groups=unconditional"])


def test_a_version_0_1_config_is_read_as_ragan():
    legacy = {"model": {"name": "ragan", "base_channels": 8},
              "training": {"lambda_rec": 5.0, "lambda_rec_switch_epoch": 2, "batch_size": 4}}
    migrated = migrate_legacy(legacy)
    assert migrated["model"] == {"type": "ragan", "base_channels": 8, "lambda_rec": 5.0, "lambda_rec_switch_epoch": 2}
    assert migrated["training"] == {"batch_size": 4}
    assert migrate_legacy(migrated) == migrated


def test_a_version_0_1_run_folder_still_exports(tmp_path):
    # 0.1 saved `generator_ema.keras` with classes registered as `ragan_tf>Generator`.
    from ragan_tf.export.saved_model import load_run

    config = load_config(REPO / "pipelines" / "ragan_synthetic_tiny.yaml")
    generator = get_family("ragan").build_inference_model(config)
    generator.save(tmp_path / "generator_ema.keras")
    with __import__("zipfile").ZipFile(tmp_path / "generator_ema.keras") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["config.json"] = files["config.json"].replace(b'"ragan_tf.ragan>', b'"ragan_tf>').replace(
        b'"ragan_tf.layers>', b'"ragan_tf>')
    assert b'"ragan_tf>Generator"' in files["config.json"]
    with __import__("zipfile").ZipFile(tmp_path / "generator_ema.keras", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    legacy = {"model": {"name": "ragan", **{k: v for k, v in vars(config.model).items() if not k.startswith("lambda")
                                            and k not in ("type", "r1_gamma")}},
              "data": vars(config.data), "training": {"batch_size": 4, "lambda_rec_switch_epoch": 1}}
    (tmp_path / "config.yaml").write_text(json.dumps(legacy))
    loaded_config, loaded = load_run(tmp_path)
    assert loaded_config.model.type == "ragan" and loaded_config.model.lambda_rec_switch_epoch == 1
    image = np.zeros((1, 32, 32, 3), "float32")
    np.testing.assert_array_equal(loaded(image, np.ones((1, 32, 32, 1), "float32"), np.array([2]), training=False),
                                  generator(image, np.ones((1, 32, 32, 1), "float32"), np.array([2]), training=False))


# ------------------------------------------------------------------------------ serialisation
def keras_classes(package):
    """Every Keras layer / model class defined in a module of `package`."""
    import importlib
    import inspect
    import pkgutil

    module = importlib.import_module(package)
    classes = []
    for info in pkgutil.walk_packages(module.__path__, f"{package}."):
        for _, cls in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
            if cls.__module__ == info.name and issubclass(cls, keras.layers.Layer) and not cls.__name__.startswith("_"):
                classes.append(cls)
    return classes


def serialisation_problems(classes):
    """Messages for classes that are unregistered, share a registered name, or whose name
    resolves to another class (Keras overwrites a registration silently)."""
    problems, names = [], {}
    for cls in classes:
        registered = keras.saving.get_registered_name(cls)
        if ">" not in registered:
            problems.append(f"{cls.__module__}.{cls.__name__} is not registered for saving")
        elif registered in names:
            problems.append(f"{registered} is shared by {names[registered]} and {cls}")
        elif keras.saving.get_registered_object(registered) is not cls:
            problems.append(f"{registered} resolves to {keras.saving.get_registered_object(registered)}, not {cls}")
        names.setdefault(registered, cls)
    return problems


def test_no_two_classes_share_a_serialisation_name():
    for name in family_names():
        get_family(name)
    classes = keras_classes("ragan_tf.models") + keras_classes("ragan_tf.layers")
    found = {cls.__name__ for cls in classes}
    expected = {"RAGAN", "Generator", "Discriminator", "GAN", "DCGANGenerator", "DCGANDiscriminator",
                "VanillaGenerator", "VanillaDiscriminator", "LatentEncoder", "EncoderConditionalDCGAN",
                "EncoderConditionalDCGANAger", "AdaIN", "ConditionalBatchNorm", "CVAEEncoder", "CVAEDecoder",
                "ConditionalVAE", "ConditionalVAEAger", "AgeCGAN", "AgeCGANAger", "AgeCGANGenerator",
                "AgeCGANEncoder"}
    assert expected <= found, found
    assert serialisation_problems(classes) == []
    packages = {keras.saving.get_registered_name(cls).split(">")[0] for cls in classes}
    assert {"ragan_tf.ragan", "ragan_tf.gan", "ragan_tf.dcgan", "ragan_tf.vanilla_gan", "ragan_tf.encoder_cdcgan",
            "ragan_tf.cvae", "ragan_tf.age_cgan", "ragan_tf.face_recognition", "ragan_tf.layers"} == packages


def test_the_serialisation_check_catches_two_families_registering_one_name():
    def generator_of_another_family():
        return type("Generator", (keras.layers.Layer,), {"__module__": "tests.fake_family"})

    first = keras.saving.register_keras_serializable(package="ragan_tf_test")(generator_of_another_family())
    second = keras.saving.register_keras_serializable(package="ragan_tf_test")(generator_of_another_family())
    problems = serialisation_problems([first, second])
    assert problems and "ragan_tf_test>Generator" in problems[0]
    assert serialisation_problems([type("Plain", (keras.layers.Layer,), {})])[0].endswith("not registered for saving")


SAVE_EVERY_FAMILY = """
import sys, numpy as np, keras
order = sys.argv[1].split(",")
from ragan_tf.config import load_config
from ragan_tf.models.registry import get_family
pipelines = {"ragan": "ragan_synthetic_tiny", "dcgan": "dcgan_synthetic_tiny",
             "vanilla_gan": "vanilla_gan_synthetic_tiny", "encoder_cdcgan": "encoder_cdcgan_synthetic_tiny",
             "cvae": "cvae_synthetic_tiny", "age_cgan": "age_cgan_synthetic_tiny"}
families = [get_family(name) for name in order]
for family in families:
    config = load_config(f"{sys.argv[2]}/pipelines/{pipelines[family.name]}.yaml")
    network = family.build_inference_model(config)
    path = f"{sys.argv[3]}/{family.name}.keras"
    network.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    assert type(reloaded) is type(network), (family.name, type(reloaded), type(network))
    for a, b in zip(network.weights, reloaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
print("ok", ",".join(order))
"""


@pytest.mark.parametrize("order", [list(FAMILY_MODULES), list(reversed(FAMILY_MODULES))])
def test_every_family_saves_and_reloads_in_one_process_in_either_import_order(order, tmp_path):
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", SAVE_EVERY_FAMILY, ",".join(order), str(REPO), str(tmp_path)],
                            capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"ok {','.join(order)}" in result.stdout
