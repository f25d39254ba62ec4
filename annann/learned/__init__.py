"""Learned designs on the cluster engine: ANNANN's autoencoder space (autoencoder, DEC/IDEC, the
k-NN-preserving loss, the training child process, the numpy encoder, ``AnnannIndex``), Neural LSH
(the K-NN graph partition, the router, ``NeuralLshIndex``), learned scores (per-cluster low-rank
models scanned in int8, ``LearnedScoreIndex``: ``scores``, ``score_scan``) and learned adaptive
termination (``LearnedStopIndex``, ``fit_beam_model``: ``termination``).
"""
