/* fc_gwclient.h - the client SDK: identities, signed proposals, and a
 * connection to the compute servers acting as gateways.
 *
 * DESIGN.md "One transaction, end to end", step 1: a client signs a proposal
 * (contract, function, args, nonce, its X.509 identity) and sends it to any
 * compute server acting as gateway. The protocol is proto/flexchain.proto
 * "gateway": a ControlMessage{gateway_request} answered by
 * ControlMessage{gateway_reply} (or {error}), and tx_query -> tx_info.
 *
 * IDENTITY. fc_gw_identity_load() reads the organisation's client identity
 * (<crypto_dir>/<org>/client/client.<org>/, written by `flexchain crypto
 * generate`) through fc_identity_load.
 *
 * PROPOSALS. fc_gw_proposal_build() makes a Proposal with a fresh 32-byte
 * nonce, the identity's certificate as creator, tx_id = fc_canon_tx_id_of
 * and client_signature = ECDSA over fc_hash_client_sig of the TX_NORMAL
 * envelope carrying it: exactly what the gateway will put in the envelope.
 *
 * CLIENT. A client holds one connection at a time, to one gateway of its
 * endpoint list, and pipelines any number of requests on it (replies are
 * paired by request_id, in any order). It runs on a libuv loop: either the
 * caller's (asynchronous API, callbacks on the loop's thread) or one of its
 * own (then only the blocking *_sync calls are used; each runs the loop
 * until its answer is in).
 *
 * FAILOVER. When the connection is lost or a connect fails, the client moves
 * to the next endpoint and carries on:
 *   - requests not yet written to the old connection are sent to the new one;
 *   - evaluations and status queries are read-only and are sent again;
 *   - a submission that was written but not answered has an UNKNOWN outcome.
 *     It is never sent again: the client asks the new gateway for the
 *     transaction's status (tx_query) until it is found or the request's
 *     deadline passes. Found: the result carries the committed status,
 *     height and index, resolved = 1, and no response bytes (the contract's
 *     result was in the lost reply). Not found by the deadline: FC_ETIMEOUT
 *     "outcome unknown" (check later with a status query; the same tx id can
 *     never commit twice).
 * A GW_SUBMIT that the gateway answers with FC_ETIMEOUT (it stopped waiting
 * for the commit decision) is resolved the same way, by status queries.
 * When every endpoint refused a connect in a row, pending requests fail with
 * FC_ECLOSED (an unknown-outcome submission says so in its message).
 *
 * REFUSED UNEXECUTED. A gateway answers FC_EAGAIN only for a request it did
 * not execute (a compute server that is draining: "send it to another
 * gateway"); that answer, and no other, proves non-execution, so the client
 * sends that request again, submissions included, on the next endpoint.
 * Since the gateway is leaving, the client moves its connection too: new
 * requests go to the next endpoint, while the answers to requests already
 * written to the refusing gateway are still taken from its connection
 * (closed once none is awaited; if it is lost first, those follow the rules
 * above). Bounded: a request is sent again at most until it has been refused
 * as many times as there are endpoints, and never after its deadline; then
 * the caller gets FC_EAGAIN ("refused unexecuted by N gateway(s)"), which
 * still means the request was not executed. A status query of an
 * unknown-outcome submission refused that way fails with FC_ECLOSED,
 * outcome unknown. With one endpoint, FC_EAGAIN reaches the caller at once.
 *
 * ENDPOINT LIST. fc_gwclient_set_endpoints() replaces the list at run time
 * (e.g. from fc_discover_compute: servers that join, drain or leave); what
 * is pending is not disturbed. The endpoint in use stays in use; if it is
 * not in the new list it is kept (last) until the client leaves it, and
 * dropped by a later replacement.
 *
 * THREADS: a client and its callbacks belong to its loop's thread.
 * Identities and built proposals are immutable and may be shared by threads.
 *
 * ERRORS: functions return FC_OK or an fc_err code with errmsg (caller-owned,
 * FC_ERRMSG_LEN, may be NULL). A result's code is FC_OK when the gateway
 * answered with code 0 (see status), the gateway's fc_err code with its
 * message, FC_ETIMEOUT, FC_ECLOSED, or FC_EPROTO for a reply that is not what
 * was asked for. Gateway codes: FC_EDENIED only when the contract itself
 * refused at execution (a business rule, e.g. a balance that cannot cover a
 * payment); FC_EINVAL / FC_ENOTFOUND bad arguments or an unknown contract or
 * function (also what contracts use for theirs); FC_EBUSY endorsers of an
 * organisation unreachable, FC_ECONFIG the endorsement policy cannot be met;
 * FC_EMISMATCH endorsers disagree; FC_EAGAIN not executed (draining, see
 * FAILOVER). None of these was ordered.
 */
#ifndef FC_GWCLIENT_H
#define FC_GWCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "flexchain.pb-c.h"

/* ----------------------------------------------------------- identity */

struct fc_gw_identity {
	char org[FC_CONFIG_NAME_MAX + 1];
	fc_cert *cert; /* owned reference */
	fc_key *key;   /* owned */
};

/* Loads org's client identity from cfg->crypto_dir. org NULL means the
 * configuration's first organisation. FC_ENOTFOUND for an org that is not
 * in cfg or an identity not generated yet. *out is owned by the caller:
 * fc_gw_identity_free. */
int fc_gw_identity_load(const struct fc_config *cfg, const char *org,
			struct fc_gw_identity **out, char *errmsg);
void fc_gw_identity_free(struct fc_gw_identity *id);

/* ----------------------------------------------------------- proposals */

#define FC_GW_NONCE_LEN 32

/* A built, signed proposal. Every pointer inside is owned by it; `prop`
 * points into its own buffers (do not free its fields). Immutable. */
struct fc_gw_proposal {
	char tx_id[FC_TXID_HEX_LEN + 1];
	Flexchain__Proposal prop;
	uint8_t *sig; /* client_signature, DER */
	size_t sig_len;
	uint8_t nonce[FC_GW_NONCE_LEN];
};

/* Builds and signs a proposal. args[i] has arg_lens[i] bytes; arg_lens NULL
 * means every arg is a NUL-terminated string (numbers go as decimal text).
 * timestamp_ms 0 means now. *out is owned by the caller:
 * fc_gw_proposal_free. FC_EINVAL for an empty contract or function. */
int fc_gw_proposal_build(const struct fc_gw_identity *id, const char *contract,
			 const char *function, size_t nargs, const char *const *args,
			 const size_t *arg_lens, uint64_t timestamp_ms,
			 struct fc_gw_proposal **out, char *errmsg);
void fc_gw_proposal_free(struct fc_gw_proposal *p);

/* Signs an envelope the caller built by hand (load generators, test tools:
 * a proposal whose creator is id's certificate and whose tx_id is
 * fc_canon_tx_id_of, an rwset, a response): sets env->type = TX_NORMAL and
 * env->client_signature = ECDSA over fc_hash_client_sig(env) with id's key.
 * The signature bytes are fc_malloc'd and owned by the caller:
 * fc_free(env->client_signature.data). On error env->client_signature is
 * left empty. */
int fc_gw_envelope_sign(const struct fc_gw_identity *id, Flexchain__Envelope *env,
			char *errmsg);

/* ------------------------------------------------------------- client */

struct fc_gw_endpoint {
	const char *id; /* for messages (a compute server id) */
	const char *host;
	uint16_t port;
};

struct fc_gwclient_opts {
	unsigned timeout_ms;	     /* per request, incl. failover; default 30000 */
	unsigned connect_timeout_ms; /* per connect; default 2000 */
	unsigned poll_ms;	     /* status polls of an unknown outcome; default 200 */
	size_t max_frame_bytes;	     /* default FC_NET_DEFAULT_MAX_FRAME */
};

void fc_gwclient_opts_init(struct fc_gwclient_opts *opts);

struct fc_gwclient;

/* A client for endpoints eps[0..n) (copied), starting with eps[first].
 * loop NULL: the client makes its own and only the *_sync calls may be used.
 * No connection is made before the first request. *out is owned by the
 * caller: fc_gwclient_destroy (own loop) or fc_gwclient_close. */
int fc_gwclient_create(uv_loop_t *loop, const struct fc_gw_endpoint *eps, size_t n, size_t first,
		       const struct fc_gwclient_opts *opts, struct fc_gwclient **out,
		       char *errmsg);

/* The compute servers of cfg as endpoints, in configuration order (pointers
 * borrowed from cfg). *first is the index of `gateway` (NULL: 0); FC_ENOTFOUND
 * when gateway names no compute server, FC_ECONFIG when cfg has none. *eps
 * is fc_malloc'd: fc_free. */
int fc_gw_endpoints_from_config(const struct fc_config *cfg, const char *gateway,
				struct fc_gw_endpoint **eps, size_t *n, size_t *first,
				char *errmsg);

/* Outcome of one request. Valid only during the callback (copy what you
 * keep); the *_sync calls fill a caller-owned one (release it with
 * fc_gw_result_clear). */
struct fc_gw_result {
	int code;		   /* see ERRORS */
	char message[FC_ERRMSG_LEN]; /* why, when code != FC_OK */
	char tx_id[FC_TXID_HEX_LEN + 1];
	int status;	 /* Flexchain__TxStatus; TX_UNKNOWN unless decided */
	int found;	 /* status queries: the tx is in the ledger */
	int resolved;	 /* a submission's outcome came from a status query */
	uint64_t height;
	uint32_t index;
	uint8_t *response; /* contract result; NULL when none */
	size_t response_len;
	const char *gateway; /* id of the endpoint that answered */
};

void fc_gw_result_clear(struct fc_gw_result *r);

typedef void (*fc_gw_cb)(const struct fc_gw_result *res, void *ud);

/* Asynchronous requests (caller's loop). p is only read during the call.
 * cb fires exactly once, from the loop, never from inside this call; also
 * with FC_ECLOSED when the client is closed first. */
int fc_gwclient_send(struct fc_gwclient *c, Flexchain__GatewayMode mode,
		     const struct fc_gw_proposal *p, fc_gw_cb cb, void *ud, char *errmsg);
int fc_gwclient_status(struct fc_gwclient *c, const char *tx_id, fc_gw_cb cb, void *ud,
		       char *errmsg);

/* Blocking (own loop only). Return res->code; res is always filled. */
int fc_gwclient_send_sync(struct fc_gwclient *c, Flexchain__GatewayMode mode,
			  const struct fc_gw_proposal *p, struct fc_gw_result *res);
int fc_gwclient_status_sync(struct fc_gwclient *c, const char *tx_id, struct fc_gw_result *res);

/* Replaces the endpoint list with eps[0..n) (copied); see ENDPOINT LIST.
 * On c's loop thread, also from a callback (the callback's
 * res->gateway is not valid after this call). FC_EINVAL for an empty list,
 * FC_ESTATE once closing, FC_ENOMEM (the old list stays). */
int fc_gwclient_set_endpoints(struct fc_gwclient *c, const struct fc_gw_endpoint *eps, size_t n,
			      char *errmsg);

/* Requests not yet answered. */
size_t fc_gwclient_pending(const struct fc_gwclient *c);
/* Id of the endpoint currently used. */
const char *fc_gwclient_gateway(const struct fc_gwclient *c);
/* Number of times the client moved to another endpoint (connection lost,
 * connect failed, or a refusal). */
uint64_t fc_gwclient_failovers(const struct fc_gwclient *c);

/* Caller's loop: fails pending requests with FC_ECLOSED, closes the
 * connection and frees c once its handles are closed (run the loop), then
 * calls done(ud) (may be NULL). c must not be used after this call. */
void fc_gwclient_close(struct fc_gwclient *c, void (*done)(void *ud), void *ud);
/* Own loop: close and free everything now. NULL is a no-op. */
void fc_gwclient_destroy(struct fc_gwclient *c);

/* "valid", "mvcc_read_conflict", ... ("unknown" for anything else). */
const char *fc_gw_status_name(int status);

#endif
