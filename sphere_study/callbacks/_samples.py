"""A few validation samples with their targets and predictions, as a PNG in the run folder and a wandb image."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

__all__ = ["PredictionSamples"]


class PredictionSamples(pl.Callback):
    """At the end of fitting (and every ``every_n_epochs`` validation epochs if set), draws ``n_samples`` validation
    spheres: input (Mollweide), then for segmentation the target and predicted masks; for classification the true and
    predicted labels in the title. Saved to ``<run>/samples/epoch_<e>.png`` and logged to wandb as ``val/samples``;
    ``n_samples: 0`` turns it off."""

    def __init__(self, n_samples: int = 4, every_n_epochs: int | None = None):
        self.n_samples, self.every_n_epochs = n_samples, every_n_epochs

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if (
            self.every_n_epochs
            and not trainer.sanity_checking
            and (trainer.current_epoch + 1) % self.every_n_epochs == 0
        ):
            self.draw(trainer, pl_module)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.draw(trainer, pl_module)

    @rank_zero_only
    def draw(self, trainer, pl_module) -> Path | None:
        from ..data import plot_sphere

        if self.n_samples < 1:
            return None
        dataset = getattr(trainer.datamodule, "val_dataset", None) if trainer.datamodule is not None else None
        if dataset is None or len(dataset) == 0:
            return None
        items = [dataset[i] for i in range(min(self.n_samples, len(dataset)))]
        x = torch.stack([item[0] for item in items]).float()
        target = torch.stack([torch.as_tensor(item[1]) for item in items])
        network = pl_module.network
        was_training = network.training
        network.eval()
        with torch.no_grad():
            pred = network(x.to(pl_module.device, next(network.parameters()).dtype)).argmax(1).cpu()
        network.train(was_training)

        from matplotlib.figure import Figure

        segmentation = target.dim() == 3
        cols = 3 if segmentation else 1
        fig = Figure(figsize=(3.4 * cols, 2.2 * len(items)), layout="constrained")
        for row in range(len(items)):
            panels = [(x[row, 0], False, "input")]
            if segmentation:
                panels += [(target[row], True, "target"), (pred[row], True, "prediction")]
            else:
                panels[0] = (x[row, 0], False, f"label {int(target[row])}, predicted {int(pred[row])}")
            for col, (signal, is_mask, title) in enumerate(panels):
                ax = fig.add_subplot(len(items), cols, row * cols + col + 1, projection="mollweide")
                plot_sphere(signal, "mollweide", ax=ax, mask=is_mask, title=title)
        path = Path(trainer.default_root_dir) / "samples" / f"epoch_{trainer.current_epoch}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({"val/samples": wandb.Image(str(path))}, commit=False)
        return path
