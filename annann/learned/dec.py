"""DEC / IDEC clustering stage (Xie et al. 2016; Guo et al. 2017).

Numpy formulas (importable without TensorFlow):
  q_ij = (1 + |z_i - mu_j|^2 / alpha)^(-(alpha+1)/2), normalised over j  (Student-t assignment)
  p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'),  f_j = sum_i q_ij          (target distribution)
The Keras loop (stage 2) follows IDEC: trainable centres initialised by k-means, P computed over the
whole training set and held fixed for ``update_interval`` steps, loss = MSE + gamma * KL(P || Q)
(+ an optional k-NN-preserving term), stop when fewer than ``tol`` of the hard assignments change.
"""

import numpy as np
from tqdm.auto import tqdm

from ..core.distances import sq_l2_all_pairs


def soft_assignment(Z, centers, alpha=1.0):
    """Student-t soft assignment Q (n, k); rows sum to 1."""
    q = (1.0 + sq_l2_all_pairs(Z, centers) / alpha) ** (-(alpha + 1.0) / 2.0)
    return q / q.sum(axis=1, keepdims=True)


def target_distribution(Q):
    """DEC target P from Q: square, divide by cluster frequency, renormalise rows."""
    Q = np.asarray(Q, dtype=np.float64)
    w = Q ** 2 / Q.sum(axis=0)
    return w / w.sum(axis=1, keepdims=True)


def kmeans_centers(Z, n_clusters, seed=0):
    """Initial centres in the embedded space: the project's seeded k-means (Lloyd's on small data,
    MiniBatchKMeans on large), the same routine that partitions the raw-space baseline."""
    from ..ivf.kmeans import fit_centers

    return fit_centers(Z, n_clusters, seed=seed)


def soft_assignment_blocked(Z, centers, alpha=1.0, block=8192):
    """soft_assignment in float32 row blocks (bounded float64 temporaries for large n x k)."""
    return np.concatenate([soft_assignment(Z[i:i + block], centers, alpha).astype(np.float32)
                           for i in range(0, Z.shape[0], block)])


def soft_assignment_tf(z, mu, alpha=1.0):
    """The Student-t soft assignment in TensorFlow (differentiable in z and mu)."""
    import tensorflow as tf

    d2 = (tf.reduce_sum(tf.square(z), axis=1, keepdims=True)
          - 2.0 * tf.matmul(z, mu, transpose_b=True)
          + tf.reduce_sum(tf.square(mu), axis=1)[None, :])
    q = tf.pow(1.0 + tf.maximum(d2, 0.0) / alpha, -(alpha + 1.0) / 2.0)
    return q / tf.reduce_sum(q, axis=1, keepdims=True)


def train_stage2(autoencoder, encoder, X, centers=None, *, gamma=0.1, alpha=1.0,
                 update_interval=None, tol=0.001, max_iter=None, batch_size=256, learning_rate=1e-3,
                 knn=None, knn_weight=0.0, seed=0, progress=True):
    """Stage 2 on standardised X (n, d). ``centers`` None means no clustering loss (k-NN term only).

    ``knn``: (anchors, neighbours) int arrays from knn_loss.knn_pairs (if knn_weight > 0).
    Returns (final centres or None, log dict).
    """
    import keras
    import tensorflow as tf

    from .knn_loss import neighbourhood_loss

    n = X.shape[0]
    steps_per_epoch = max(1, -(-n // batch_size))
    update_interval = int(update_interval or steps_per_epoch)
    max_iter = int(max_iter or 10 * steps_per_epoch)
    use_dec = centers is not None
    use_knn = knn is not None and knn_weight > 0
    rng = np.random.default_rng(seed)
    Xt = tf.constant(X, dtype=tf.float32)
    mu = (keras.Variable(np.asarray(centers, dtype=np.float32), name="dec_centres")
          if use_dec else None)
    variables = list(autoencoder.trainable_variables) + ([mu] if use_dec else [])
    opt = keras.optimizers.Adam(learning_rate=learning_rate)
    gamma_t = tf.constant(float(gamma), tf.float32)
    beta_t = tf.constant(float(knn_weight), tf.float32)
    a = float(alpha)

    @tf.function(reduce_retracing=True)
    def step(idx, p_batch, anc, pos, neg):
        xb = tf.gather(Xt, idx)
        with tf.GradientTape() as tape:
            recon = tf.reduce_mean(tf.square(autoencoder(xb, training=True) - xb))
            loss = recon
            kl = tf.constant(0.0)
            nb = tf.constant(0.0)
            if use_dec:
                q = soft_assignment_tf(encoder(xb, training=True), mu, a)
                kl = tf.reduce_mean(tf.reduce_sum(p_batch * tf.math.log((p_batch + 1e-10)
                                                                        / (q + 1e-10)), axis=1))
                loss = loss + gamma_t * kl
            if use_knn:
                xa, xp, xn = tf.gather(Xt, anc), tf.gather(Xt, pos), tf.gather(Xt, neg)
                nb = neighbourhood_loss(encoder(xa, training=True), encoder(xp, training=True),
                                        encoder(xn, training=True), xa, xp, xn)
                loss = loss + beta_t * nb
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return recon, kl, nb

    def embed_all():
        return np.concatenate([encoder(X[i:i + 8192], training=False).numpy()
                               for i in range(0, n, 8192)])

    log = {"steps": 0, "updates": [], "stopped": "max_iter"}
    P = np.zeros((n, 1), dtype=np.float32)
    labels_prev = None
    order = rng.permutation(n)
    pos_in_epoch = 0
    empty = np.zeros(1, dtype=np.int32)
    bar = tqdm(total=max_iter, desc="stage 2 (DEC)" if use_dec else "stage 2 (k-NN)",
               disable=not progress, unit="step")
    for it in range(max_iter):
        if use_dec and it % update_interval == 0:
            Q = soft_assignment_blocked(embed_all(), mu.numpy(), alpha)
            P = target_distribution(Q).astype(np.float32)
            labels = Q.argmax(axis=1)
            changed = None if labels_prev is None else float((labels != labels_prev).mean())
            log["updates"].append({"step": it, "changed": changed})
            labels_prev = labels
            if changed is not None and changed < tol:
                log["stopped"] = f"changed {changed:.5f} < tol {tol}"
                break
        if pos_in_epoch + batch_size > n:
            order = rng.permutation(n)
            pos_in_epoch = 0
        idx = order[pos_in_epoch:pos_in_epoch + batch_size].astype(np.int32)
        pos_in_epoch += batch_size
        pb = P[idx] if use_dec else P[:1]
        if use_knn:
            anchors, neighbours = knn
            pick = rng.integers(0, anchors.shape[0], size=batch_size)
            anc = anchors[pick].astype(np.int32)
            col = rng.integers(0, neighbours.shape[1], size=batch_size)
            pos = neighbours[pick, col].astype(np.int32)
            neg = rng.integers(0, n, size=batch_size).astype(np.int32)
        else:
            anc = pos = neg = empty
        recon, kl, nb = step(tf.constant(idx), tf.constant(pb), tf.constant(anc), tf.constant(pos),
                             tf.constant(neg))
        log["steps"] = it + 1
        if it % 50 == 0:
            bar.set_postfix(recon=f"{float(recon):.4f}", kl=f"{float(kl):.4f}",
                            knn=f"{float(nb):.4f}")
        bar.update(1)
    bar.close()
    log["final_recon"] = float(recon) if log["steps"] else None
    return (mu.numpy().astype(np.float32) if use_dec else None), log
