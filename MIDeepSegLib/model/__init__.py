"""The CNN: the 2D / 3D UNet, its checkpoint file format and model lookup, and the network's input grid."""
