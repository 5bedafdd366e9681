/*
 * bundle_int.h -- what bundle.c asks of bundle_sig.c when it opens a
 * signed bundle; not for other callers.
 */
#ifndef RAS_BUNDLE_INT_H
#define RAS_BUNDLE_INT_H

#include "bundle.h"

/* A signed bundle being opened: its signer, verified. */
struct bundle_sig_ctx {
	void	*crt;			/* gnutls_x509_crt_t, or NULL */
	char	 dn[BUNDLE_DN_MAX];
};

/*
 * Verify a SealedBundle of kind BUNDLE_SEAL_SIGNED against ca: the
 * signer's certificate (chain, dates, purpose, key usage) and the
 * signature over the bundle bytes. 0 with cx filled (release it with
 * bundle_sig_done, also after a failure), or -1 with a reason.
 */
int	bundle_sig_verify(const Ras__SealedBundle *, const struct bundle_ca *ca,
	    struct bundle_sig_ctx *cx, char *err, size_t errlen);

/*
 * Whether the verified signer may speak for the source a Bundle names:
 * for source_peer "tcp:HOST:PORT" its certificate must name HOST; any
 * other (or no) source_peer names no host to check. 0, or -1 with a
 * reason.
 */
int	bundle_sig_names(const struct bundle_sig_ctx *, const char *source_peer,
	    char *err, size_t errlen);

void	bundle_sig_done(struct bundle_sig_ctx *);

#endif
