# Paper Table 12 (ImageNet-1k): SGD with Nesterov momentum 0.9, lr 0.8 at a
# total batch of 2048, weight decay 5e-5, AMP; 480 epochs = 20 linear
# warm-up + 450 cosine + 10 cool-down at the final lr (no scheduler runs in
# the last 10 epochs, so the lr stays at eta_min).
# ``--auto-scale-lr`` rescales lr to the real total batch size (GPUs x
# samples per GPU) over auto_scale_lr.base_batch_size.
max_epochs = 480
warmup_epochs = 20
cooldown_epochs = 10

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='SGD', lr=0.8, momentum=0.9, nesterov=True, weight_decay=5e-5))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs - cooldown_epochs,
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs - cooldown_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=2048)
