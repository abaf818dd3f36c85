"""Research tooling, not installed into Slicer: training data (synthesis, folders), augmentation, the example
sampler and the training loop."""
