"""Research tooling, not installed into Slicer: training data (random shapes, label-map synthesis,
folders), augmentation, the example sampler and the training loop."""
