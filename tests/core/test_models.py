import pytest
import torch

from reprolib.core import models, transfer


@pytest.mark.parametrize("name,params", [("wrn-16-1", 175_066), ("wrn-16-2", 691_674), ("wrn-40-2", 2_243_546)])
def test_wrn_sizes_match_the_literature(name, params):
    # WRN-16-1 0.17M, WRN-16-2 0.69M, WRN-40-2 2.2M parameters on CIFAR-10 (Zagoruyko & Komodakis Table 1 / ZSKT)
    assert models.count_parameters(models.build(name, num_classes=10, in_channels=3)) == params


def test_wrn_groups_have_the_attention_transfer_shapes():
    m = models.build("wrn-16-2", num_classes=10, in_channels=3)
    logits, (g1, g2, g3) = m.forward_groups(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert g1.shape == (2, 32, 32, 32) and g2.shape == (2, 64, 16, 16) and g3.shape == (2, 128, 8, 8)
    assert torch.equal(m(torch.zeros(1, 3, 32, 32)), m.forward_groups(torch.zeros(1, 3, 32, 32))[0])
    grey = models.build("wrn-10-1", num_classes=3, in_channels=1)
    assert grey(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_bad_model_names_and_depths():
    with pytest.raises(ValueError, match="6n\\+4"):
        models.build("wrn-15-1", 10)
    with pytest.raises(KeyError, match="unknown model 'resnet7'"):
        models.build("resnet7", 10)
    with pytest.raises(ValueError, match="expects 3 input channels"):
        models.build("resnet18", 10, in_channels=1)


def test_report_cnn_output_shape():
    m = models.build("report_cnn", num_classes=2, in_channels=3)
    assert m(torch.randn(4, 3, 32, 32)).shape == (4, 2)
    convs = [c.out_channels for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert convs == [32, 64, 128, 256, 512]


def test_imagenet_weights_missing_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(models.ModelUnavailable, match="resnet18.*not cached at .*checkpoints"):
        models.build("resnet18", 2, weights="imagenet")


@pytest.mark.parametrize("name", ["resnet18", "alexnet", "vgg11_bn", "squeezenet1_0", "densenet121"])
def test_freezing_policies(name):
    m = models.build(name, num_classes=2)
    transfer.freeze(m, "all_but_head")
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all(any(n.startswith(h + ".") for h in models.head_names(m)) for n in trainable)
    transfer.freeze(m, "none")
    assert all(p.requires_grad for p in m.parameters())
    transfer.freeze(m, "classifier")
    assert any(p.requires_grad for p in m.parameters()) and not all(p.requires_grad for p in m.parameters())
    with pytest.raises(ValueError, match="unknown freeze policy"):
        transfer.freeze(m, "half")


def test_replace_head_inception_has_two_heads():
    m = models.build("inception_v3", num_classes=10)
    models.replace_head(m, 3)
    assert m.fc.out_features == 3 and m.AuxLogits.fc.out_features == 3


@pytest.mark.parametrize("name, blocks, features", [("resnet50-w16-small", 16, 512), ("resnet101-w8", 33, 256),
                                                    ("resnet18-w16-small", 8, 128)])
def test_narrow_resnets_are_torchvisions_class_with_scaled_widths(name, blocks, features):
    import torchvision

    m = models.build(name, num_classes=7, in_channels=1)
    assert isinstance(m, torchvision.models.ResNet)
    assert m.fc.in_features == features and m(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    n_blocks = sum(len(getattr(m, f"layer{i}")) for i in range(1, 5))
    assert n_blocks == blocks
    if "-small" in name:
        assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1) and isinstance(m.maxpool, torch.nn.Identity)
    assert models.head_names(m) == ["fc"] and models.any_channels(name)


def test_narrow_densenet_is_torchvisions_class_with_a_smaller_growth_rate():
    import torchvision

    m = models.build("densenet121-g8-small", num_classes=5, in_channels=3)
    assert isinstance(m, torchvision.models.DenseNet)
    first_dense = m.features.denseblock1.denselayer1
    assert first_dense.conv2.out_channels == 8 and m.features.conv0.out_channels == 16
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 5) and models.head_names(m) == ["classifier"]
    with pytest.raises(ValueError, match="unknown model 'densenet121-x8'"):
        models.check_name("densenet121-x8")


def test_capture_outputs_records_each_forward_and_removes_its_hooks():
    m = models.build("resnet50-w8-small", num_classes=3, in_channels=1)
    names = ["layer1.2.conv3", "layer4.2.conv3"]
    x = torch.randn(2, 1, 16, 16)
    with transfer.capture_outputs(m, names) as maps:
        m(x)
        assert maps["layer1.2.conv3"].shape == (2, 32, 16, 16)  # before the bottleneck's bn3 and residual add
        assert maps["layer4.2.conv3"].shape == (2, 256, 2, 2) and maps["layer4.2.conv3"].requires_grad
        first = maps["layer4.2.conv3"]
        m(x * 2)
        assert maps["layer4.2.conv3"] is not first
    assert all(not mod._forward_hooks for mod in m.modules())


def test_narrow_alexnet_is_torchvisions_class_and_w64_has_alexnets_shapes():
    import torchvision

    full = torchvision.models.alexnet(weights=None, num_classes=11)
    same = models.build("alexnet-w64", num_classes=11)
    assert isinstance(same, torchvision.models.AlexNet)
    assert [(n, p.shape) for n, p in same.named_parameters()] == [(n, p.shape) for n, p in full.named_parameters()]
    small = models.build("alexnet-w16", num_classes=5)
    convs = [m.out_channels for m in small.features if isinstance(m, torch.nn.Conv2d)]
    assert convs == [16, 48, 96, 64, 64] and small.classifier[1].out_features == 1024
    assert small(torch.zeros(2, 3, 64, 64)).shape == (2, 5) and models.head_names(small) == ["classifier.6"]
    assert models.min_input("alexnet-w16") == models.min_input("alexnet") == 63 and models.min_input("resnet18") == 0
    with pytest.raises(ValueError, match="no pretrained weights"):
        models.build("alexnet-w16", 5, weights="imagenet")


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name", ["alexnet", "alexnet-w16"])
def test_alexnet_freezing_policies_split_features_from_classifier(name):
    """Report 004 §3: 'freeze the convolutional layers' trains all three FC layers; 'freeze the fully connected
    layers' freezes all of them (the new last layer too) and trains the convolutions."""
    m = models.build(name, num_classes=7)
    names = {n for n, _ in m.named_parameters()}
    conv = {n for n in names if n.startswith("features.")}
    fc = {n for n in names if n.startswith("classifier.")}
    assert conv | fc == names and len(fc) == 6 and len(conv) == 10
    assert _trainable(transfer.freeze(m, "features")) == fc
    assert _trainable(transfer.freeze(m, "classifier")) == conv
    assert _trainable(transfer.freeze(m, "all_but_head")) == {"classifier.6.weight", "classifier.6.bias"}
    assert _trainable(transfer.freeze(m, "none")) == names


@pytest.mark.parametrize("name", ["resnet18", "resnet50-w8"])
def test_resnet_freezing_policies_split_at_fc(name):
    m = models.build(name, num_classes=7)
    names = {n for n, _ in m.named_parameters()}
    fc = {"fc.weight", "fc.bias"}
    assert _trainable(transfer.freeze(m, "features")) == fc == _trainable(transfer.freeze(m, "all_but_head"))
    assert _trainable(transfer.freeze(m, "classifier")) == names - fc
    assert transfer.trainable_part(m, "features") == "fc"
    with pytest.raises(ValueError, match="trains a lower part"):
        transfer.trainable_part(m, "classifier")


@pytest.mark.parametrize("name", ["resnet18-w8", "resnet50-w8"])
def test_zero_init_residual_starts_every_block_as_the_identity(name):
    import torchvision.models.resnet as tvr

    torch.manual_seed(0)
    model = models.zero_init_residual(models.build(name, num_classes=5)).eval()
    blocks = [m for m in model.modules() if isinstance(m, (tvr.BasicBlock, tvr.Bottleneck))]
    assert blocks
    x = torch.randn(2, 8 if name == "resnet18-w8" else 32, 8, 8)
    for block in blocks:  # a block without a projection passes a (non-negative) input through unchanged
        if block.downsample is None and block.conv1.in_channels == x.shape[1]:
            assert torch.allclose(block(x.relu()), x.relu())
            break
    else:
        pytest.fail("no block without a projection at that width")
    torch.manual_seed(0)
    ref = models.build(name, num_classes=5).state_dict()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, ref[k])}
    assert changed == {k for k in ref if k.endswith(("bn2.weight" if name == "resnet18-w8" else "bn3.weight"))}  # only those


def test_a_run_from_scratch_can_start_its_resnet_blocks_as_the_identity():
    from reprolib.core.supervised import TrainConfig, build_model

    cfg = TrainConfig(dataset="synthetic", model="resnet18-w4")
    last_bn = lambda m: [b.bn2.weight for b in m.modules() if hasattr(b, "bn2")]  # noqa: E731
    assert all((w == 1).all() for w in last_bn(build_model(cfg, 3, 3)))
    assert all((w == 0).all() for w in last_bn(build_model(cfg.replace(zero_init_residual=True), 3, 3)))
    assert cfg.key() == TrainConfig(dataset="synthetic", model="resnet18-w4").key() != cfg.replace(zero_init_residual=True).key()
