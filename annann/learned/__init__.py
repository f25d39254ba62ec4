"""Learned partitions on the cluster engine: ANNANN's autoencoder space (autoencoder, DEC/IDEC,
the k-NN-preserving loss, the training child process, the numpy encoder, ``AnnannIndex``) and
Neural LSH (the K-NN graph partition, the router, ``NeuralLshIndex``).
"""
