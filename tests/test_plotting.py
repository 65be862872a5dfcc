import torch

from pyprogen.plotting import image_grid, plot_history, plot_samples


def test_image_grid_places_each_image_with_one_pixel_border():
    x = torch.zeros(5, 1, 3, 3)
    for i in range(5):
        x[i] = (i + 1) / 10
    grid = image_grid(x, nrow=3)
    assert grid.shape == (2 * 4 + 1, 3 * 4 + 1)  # 2 rows x 3 columns of 3x3 tiles + borders
    assert abs(grid[1, 1] - 0.1) < 1e-6 and abs(grid[1 + 4, 1 + 4] - 0.5) < 1e-6
    assert grid[0, 0] == 1.0 and grid[5, 9] == 1.0  # border and the empty sixth tile stay white


def test_figures_are_written(tmp_path):
    plot_samples(torch.rand(16, 1, 8, 8), tmp_path / "grid.png")
    plot_samples(torch.randn(100, 2), tmp_path / "scatter.png", reference=torch.randn(50, 2))
    plot_samples(torch.randn(100, 1), tmp_path / "hist.png", reference=torch.randn(50, 1))
    plot_history([{"epoch": 1, "loss": 3.0, "seconds": 1.0}, {"epoch": 2, "loss": 2.0, "seconds": 1.0}],
                 tmp_path / "loss.png")
    for name in ("grid", "scatter", "hist", "loss"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
