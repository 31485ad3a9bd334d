"""Training and prediction for any Classifier (noisebench.models.base), shared by `run` and `sweep`.

    train.py     fit (early stopping on the validation split), predict, and `train_with_fallback`: the one training
                 workflow, with the out-of-memory fallbacks (half the micro-batch, then gradient checkpointing)
    metrics.py   accuracy, macro-F1 and per-class F1 from predictions
    sweep.py     LoRA hyper-parameter sweeps on the validation split
"""
