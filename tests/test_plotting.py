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


def test_mean_images_are_the_decoders_sigmoid_for_a_fixed_z():
    """The grids of likelihood models show E[x|z]: for a Bernoulli VAE, sigmoid(decoder(z)), both for a
    given z (``mean_images``) and for the prior draws ``sample(n, mean=True)`` makes."""
    import pyro

    from pyprogen.models import build
    from pyprogen.plotting import mean_images, sample_label

    torch.manual_seed(0)
    vae = build("vae", (1, 4, 4), latent_dim=3, likelihood="bernoulli", hidden=(8,))
    z = torch.randn(5, 3)
    want = torch.sigmoid(vae.decoder(z)).reshape(5, 1, 4, 4)
    assert torch.allclose(mean_images(vae, z), want, atol=1e-7)
    pyro.set_rng_seed(7)
    grid = vae.sample(5, mean=True)
    pyro.set_rng_seed(7)
    z_drawn = torch.randn(5, 3)  # the prior's draw under the same seed (N(0, I), the model's first sample)
    assert torch.allclose(grid, torch.sigmoid(vae.decoder(z_drawn)).reshape(5, 1, 4, 4), atol=1e-7)
    assert sample_label(vae) == "mean images E[x|z], z ~ p(z)"
    gan = build("gan", (1, 28, 28), latent_dim=4).eval()
    z4 = torch.randn(3, 4)
    assert torch.equal(mean_images(gan, z4), gan.generate(z4))  # an implicit model: G(z) itself


def test_image_rows_figure(tmp_path):
    from pyprogen.plotting import plot_image_rows

    plot_image_rows([("inputs", torch.rand(10, 1, 8, 8)), ("vae", torch.rand(10, 1, 8, 8))], tmp_path / "rows.png")
    assert (tmp_path / "rows.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
