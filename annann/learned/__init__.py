"""ANNANN's learned space: autoencoder, DEC/IDEC, the k-NN-preserving loss, the training child
process, the numpy encoder and ``AnnannIndex``.
"""
