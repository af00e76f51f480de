"""Task metrics: mIoU from the epoch-wide confusion matrix equals a hand computation; accumulation is over the whole
epoch, not an average of batch scores; the GPU monitor is a no-op without a GPU."""

from __future__ import annotations

import math
import types

import torch

from sphere_study.callbacks import GPUMonitor
from sphere_study.results import metric_key
from sphere_study.tasks import ClassificationTask, SegmentationTask, segmentation_scores

# A fixed 3-class example: 12 pixels, true classes vs predictions.
TARGET = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PRED = torch.tensor([0, 0, 0, 0, 1, 2, 1, 1, 0, 2, 1, 1])
# By hand: class 0: TP 4, FP 1 (a 1 predicted 0), FN 2 -> 4/7; class 1: TP 2, FP 3, FN 1 -> 2/6;
# class 2: TP 1, FP 1, FN 2 -> 1/4. miou = mean(4/7, 1/3, 1/4); miou_fg = mean(1/3, 1/4); pixel acc = 7/12.
IOU = [4 / 7, 2 / 6, 1 / 4]


def test_segmentation_scores_by_hand():
    confusion = torch.zeros(3, 3, dtype=torch.long)
    for t, p in zip(TARGET, PRED, strict=True):
        confusion[t, p] += 1
    scores = segmentation_scores(confusion)
    assert torch.allclose(scores["iou"], torch.tensor(IOU, dtype=torch.float64))
    assert math.isclose(scores["miou"].item(), sum(IOU) / 3, rel_tol=1e-12)
    assert math.isclose(scores["miou_fg"].item(), (IOU[1] + IOU[2]) / 2, rel_tol=1e-12)
    assert math.isclose(scores["pixel_acc"].item(), 7 / 12, rel_tol=1e-12)


def test_absent_classes_are_left_out():
    confusion = torch.zeros(4, 4, dtype=torch.long)
    confusion[0, 0], confusion[1, 1], confusion[1, 0] = 5, 3, 1  # classes 2 and 3 never occur
    scores = segmentation_scores(confusion)
    assert scores["iou"][2:].isnan().all()
    assert math.isclose(scores["miou_fg"].item(), 3 / 4, rel_tol=1e-12)


def test_segmentation_task_accumulates_over_the_epoch():
    """The task's mIoU over two batches equals the mIoU of their pooled confusion matrix (not the batch average)."""
    task = SegmentationTask(
        network={"class_path": "sphere_study.models.CNNSegmenter",
                 "init_args": {"bandwidth": 3, "features": [2], "kernel_sizes": [3], "strides": [1]}},
        num_classes=3,
    )  # fmt: skip
    target = TARGET.view(2, 1, 2, 3).expand(2, 1, 2, 3).reshape(2, 6)  # 2 "images" of 6 pixels
    pred = PRED.view(2, 6)
    logits = torch.nn.functional.one_hot(pred, 3).permute(0, 2, 1).float()  # [B, C, pixels]
    task.update_metrics("test", "rotated", logits[:1], target[:1])
    task.update_metrics("test", "rotated", logits[1:], target[1:])
    scores = task.compute_metrics("test", "rotated")
    assert math.isclose(scores[metric_key("test", "miou", "rotated")].item(), sum(IOU) / 3, rel_tol=1e-6)
    first = segmentation_scores(torch.bincount(target[0] * 3 + pred[0], minlength=9).view(3, 3))["miou"]
    assert not math.isclose(first.item(), sum(IOU) / 3, rel_tol=1e-3)  # a per-batch score would differ


def test_classification_task_metrics():
    task = ClassificationTask(
        network={"class_path": "sphere_study.models.CNNClassifier",
                 "init_args": {"bandwidth": 4, "features": [2], "kernel_sizes": [3], "strides": [1]}},
        num_classes=3,
    )  # fmt: skip
    logits = torch.nn.functional.one_hot(PRED, 3).float()
    task.update_metrics("test", "unrotated", logits, TARGET)
    scores = task.compute_metrics("test", "unrotated")
    assert math.isclose(scores["test/unrotated/acc"].item(), 7 / 12, rel_tol=1e-6)
    assert math.isclose(scores["test/unrotated/acc_class/1"].item(), 2 / 3, rel_tol=1e-6)


def test_gpu_monitor_without_gpu_is_a_no_op(monkeypatch, caplog):
    """No NVIDIA driver here: the monitor says it is inactive, once, and logs nothing."""
    import pynvml

    def no_driver():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    monitor = GPUMonitor(every_n_steps=1)
    logged = []
    trainer = types.SimpleNamespace(
        global_step=0, loggers=[types.SimpleNamespace(log_metrics=lambda m, step: logged.append(m))]
    )
    monitor.setup(trainer, None, "fit")
    monitor.setup(trainer, None, "validate")
    assert not monitor.active and "NVMLError" in monitor.inactive_reason
    monitor.on_train_batch_end(trainer, None, None, None, 0)
    monitor.teardown(trainer, None, "fit")
    assert logged == []


def test_gpu_monitor_reads_every_device(monkeypatch):
    """With NVML present (a stand-in module here), utilisation, memory and power are logged per device."""
    import pynvml

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=40 + h),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=(h + 1) * 2**30),
        nvmlDeviceGetPowerUsage=lambda h: 250_000,
    )
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake)
    monitor = GPUMonitor(every_n_steps=5)
    logged = []
    trainer = types.SimpleNamespace(
        global_step=10, loggers=[types.SimpleNamespace(log_metrics=lambda m, step: logged.append((m, step)))]
    )
    monitor.setup(trainer, None, "fit")
    monitor.on_train_batch_end(trainer, None, None, None, 0)
    ((metrics, step),) = logged
    assert step == 10
    assert metrics == {
        "gpu/0/utilization": 40.0, "gpu/0/memory_used_mib": 1024.0, "gpu/0/power_w": 250.0,
        "gpu/1/utilization": 41.0, "gpu/1/memory_used_mib": 2048.0, "gpu/1/power_w": 250.0,
    }  # fmt: skip
    assert pynvml is not fake
