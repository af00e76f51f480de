"""GPU utilisation, memory and power, logged every N training steps through NVML (``pynvml``)."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

__all__ = ["GPUMonitor"]


class GPUMonitor(pl.Callback):
    """Logs ``gpu/<i>/utilization`` (%), ``gpu/<i>/memory_used_mib`` and ``gpu/<i>/power_w`` for every NVIDIA device.

    Without NVML (no NVIDIA driver, no GPU) it says once that it is inactive and does nothing else.
    """

    def __init__(self, every_n_steps: int = 50):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self._nvml = None
        self._handles: list = []
        self.inactive_reason: str | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self._nvml is not None or self.inactive_reason is not None:
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception as e:  # no driver, no library, no device: all mean "nothing to monitor"
            self.inactive_reason = f"{type(e).__name__}: {e}"
        else:
            if handles:
                self._nvml, self._handles = pynvml, handles
            else:
                self.inactive_reason = "NVML found no NVIDIA GPU"
        if self.inactive_reason is not None:
            rank_zero_info(f"GPUMonitor inactive ({self.inactive_reason}); no GPU metrics will be logged")

    @property
    def active(self) -> bool:
        return self._nvml is not None

    def read(self) -> dict[str, float]:
        """Current readings of every device, ``{"gpu/0/utilization": ..., ...}``."""
        nvml, out = self._nvml, {}
        for i, h in enumerate(self._handles):
            out[f"gpu/{i}/utilization"] = float(nvml.nvmlDeviceGetUtilizationRates(h).gpu)
            out[f"gpu/{i}/memory_used_mib"] = nvml.nvmlDeviceGetMemoryInfo(h).used / 2**20
            try:
                out[f"gpu/{i}/power_w"] = nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
            except Exception:  # some boards do not report power
                pass
        return out

    @rank_zero_only
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.active and trainer.global_step % self.every_n_steps == 0:
            for logger in trainer.loggers:
                logger.log_metrics(self.read(), step=trainer.global_step)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            finally:
                self._nvml, self._handles = None, []
