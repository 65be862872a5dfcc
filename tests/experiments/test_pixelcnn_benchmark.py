"""benchmarks/pixelcnn_mnist.py: a bf16-trained PixelCNN is still scored with the exact fp32 likelihood."""
import json

import pytest
import torch

from pyprogen.models import build


def test_bf16_training_reports_the_fp32_nll_of_the_saved_net(tmp_path, benchmark_script):
    script = benchmark_script("pixelcnn_mnist")
    out = tmp_path / "run"
    script.main(["--gated", "--channels", "8", "--depth", "1", "--minutes", "0.01", "--bf16", "--batch-size", "16",
                 "--test-images", "20", "--valid-images", "20", "--out", str(out)])
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["bf16"] is True and result["steps"] >= 1
    assert result["test_images"] == 20 and result["valid_images"] == 20

    model = build("pixelcnn", (1, 28, 28), channels=8, depth=1, gated=True, likelihood="bernoulli")
    model.net.load_state_dict(torch.load(out / "net.pt", weights_only=True))
    assert all(p.dtype == torch.float32 for p in model.net.parameters())
    test, valid = script.load_split("test"), script.load_split("valid")
    with torch.no_grad():  # the first 20 test images; 20 validation images evenly spaced (every 500th)
        test_nll = -model.log_prob(test[:20]).mean().item()
        valid_nll = -model.log_prob(valid[::500]).mean().item()
    assert result["test_nll_nats"] == pytest.approx(test_nll, rel=1e-6)
    assert result["valid_nll_nats"] == pytest.approx(valid_nll, rel=1e-6)
    # the tolerance tells fp32 scoring from bf16 scoring: under autocast the same net scores >= 2e-5 relative away
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bf16_nll = -model.log_prob(test[:20]).mean().item()
    assert abs(bf16_nll - test_nll) > 1e-6 * test_nll


@pytest.mark.parametrize("flag, value", [("--test-images", "0"), ("--valid-images", "20000")])
def test_image_counts_out_of_range_are_one_line_errors(flag, value, capsys, benchmark_script):
    with pytest.raises(SystemExit) as exit_info:
        benchmark_script("pixelcnn_mnist").main([flag, value])
    assert exit_info.value.code == 2
    assert f"{flag}: expected" in capsys.readouterr().err.strip().splitlines()[-1]
