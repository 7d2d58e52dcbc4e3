import dataclasses

import pytest

from reprolib.core.config import ConfigError, parse_sets, parse_value
from reprolib.core.supervised import TrainConfig
from reprolib.core.train import TrainSpec


def test_profiles_fill_defaults_and_overrides_win():
    smoke = TrainConfig.from_profile("smoke")
    cpu = TrainConfig.from_profile("cpu")
    assert smoke.train_size == 512 and cpu.train_size == 10000
    assert TrainConfig.from_profile("smoke", lr=0.05).lr == 0.05
    assert TrainConfig.from_profile("smoke", epochs=3).train_size == 512


def test_unknown_key_names_the_key_and_the_known_keys():
    with pytest.raises(ConfigError, match=r"unknown TrainConfig key\(s\) \['lrr'\].*'lr'"):
        TrainConfig.from_profile("smoke", lrr=0.1)


def test_wrong_type_and_range_and_choice_are_named():
    with pytest.raises(ConfigError, match="lr='fast': expected float"):
        TrainConfig.from_profile("smoke", lr="fast")
    with pytest.raises(ConfigError, match="epochs=0 is out of range: must be >= 1"):
        TrainConfig.from_profile("smoke", epochs=0)
    with pytest.raises(ConfigError, match=r"optimizer='rmsprop' is not allowed; choose from \['sgd', 'adam'\]"):
        TrainConfig.from_profile("smoke", optimizer="rmsprop")
    with pytest.raises(ConfigError, match=r"unknown augmentation 'rotate'; known: \[.*'crop'.*'flip'"):
        TrainConfig.from_profile("smoke", augment=("flip", "rotate"))
    with pytest.raises(ConfigError, match="expected bool"):
        TrainConfig.from_profile("smoke", nesterov="yes")
    with pytest.raises(ConfigError, match="unknown profile 'gpu'"):
        TrainConfig.from_profile("gpu")


def test_unknown_dataset_and_model_are_rejected_with_the_known_names():
    with pytest.raises(ConfigError, match="unknown dataset 'imagenette'.*fashion_mnist"):
        TrainConfig.from_profile("smoke", dataset="imagenette")
    with pytest.raises(ConfigError, match="unknown model 'resnet7'"):
        TrainConfig.from_profile("smoke", model="resnet7")


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="nesterov"):
        TrainSpec(optimizer="adam", nesterov=True)
    with pytest.raises(ConfigError, match="milestones"):
        TrainSpec(scheduler="multistep")


def test_lossless_coercions_and_key_stability():
    c = TrainConfig.from_profile("smoke", lr=1, classes=[2, 4], augment="crop,flip")
    assert c.lr == 1.0 and isinstance(c.lr, float)
    assert c.classes == (2, 4) and c.augment == ("crop", "flip")
    assert c.key() == TrainConfig.from_profile("smoke", lr=1.0, classes=(2, 4), augment=("crop", "flip")).key()
    assert c.key() != c.replace(seed=1).key()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 0.3


def test_command_line_values_are_parsed_as_literals():
    assert parse_sets(["lr=0.01", "nesterov=true", "milestones=[3,6]", "model=wrn-16-2"]) == {
        "lr": 0.01,
        "nesterov": True,
        "milestones": [3, 6],
        "model": "wrn-16-2",
    }
    assert parse_value("None") is None
    with pytest.raises(ConfigError, match="key=value"):
        parse_sets(["lr"])


def test_an_added_field_stays_out_of_the_key_at_its_default():
    import dataclasses

    from reprolib.core.config import Config, option

    @dataclasses.dataclass(frozen=True)
    class Before(Config):
        x: int = option(1)

    @dataclasses.dataclass(frozen=True)
    class After(Config):
        x: int = option(1)
        precision: str = option("fp32", choices=("fp32", "bf16"), added=True)

    After.__name__ = Before.__name__ = "Same"  # the class name is part of the key
    assert After().key() == Before().key()  # earlier runs keep their keys
    assert After(precision="bf16").key() != Before().key()  # a non-default value is keyed
    assert "precision" not in After().key_dict() and After(precision="bf16").key_dict()["precision"] == "bf16"
