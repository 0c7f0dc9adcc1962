/* Execution (X) of one proposal: look the function up, run it over a fresh
 * context, turn the context into the read/write set. */
#include "fc_exec.h"

#include <string.h>

#include "ctx.h"
#include "fc_err.h"
#include "fc_mem.h"

int fc_exec_contract(const struct fc_contract *c, const char *function,
		     const ProtobufCBinaryData *args, size_t nargs, const struct fc_state_reader *r,
		     struct fc_exec_result *out, char *errmsg)
{
	struct fc_contract_ctx ctx;
	char fmsg[FC_ERRMSG_LEN] = "";
	int rc;

	if (out)
		memset(out, 0, sizeof *out);
	if (!c || !r || !r->get || !out)
		return fc_errf(errmsg, FC_EINVAL, "exec: missing contract, state reader or result");
	if (nargs && !args)
		return fc_errf(errmsg, FC_EINVAL, "exec: arguments missing");
	if (c->abi != FC_CONTRACT_ABI)
		return fc_errf(errmsg, FC_EINVAL, "contract %s has ABI %u, not %u", c->name, c->abi,
			       FC_CONTRACT_ABI);
	const char *fname = function ? function : "";
	const struct fc_contract_func *f = fc_contract_find_func(c, fname);
	if (!f)
		return fc_errf(errmsg, FC_ENOTFOUND, "contract %s has no function '%s'", c->name,
			       fname);

	exec_ctx_init(&ctx, r, c->name, f, args, nargs);
	rc = f->fn(&ctx, fmsg);
	if (rc != FC_OK) {
		const char *why = fmsg[0] ? fmsg : fc_strerror(rc);
		if (rc == FC_EINVAL && strncmp(why, "usage:", 6) != 0)
			fc_errf(errmsg, rc, "%s.%s: %s (usage: %s)", c->name, f->name, why,
				f->usage);
		else
			fc_errf(errmsg, rc, "%s.%s: %s", c->name, f->name, why);
		goto cleanup;
	}
	rc = exec_ctx_finish(&ctx, out, fmsg);
	if (rc != FC_OK)
		fc_errf(errmsg, rc, "%s.%s: %s", c->name, f->name, fmsg);
cleanup:
	exec_ctx_destroy(&ctx);
	return rc;
}

int fc_exec_proposal(const Flexchain__Proposal *p, const struct fc_state_reader *r,
		     struct fc_exec_result *out, char *errmsg)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!p || !r || !r->get || !out)
		return fc_errf(errmsg, FC_EINVAL, "exec: missing proposal, state reader or result");
	if (p->n_args && !p->args)
		return fc_errf(errmsg, FC_EINVAL, "exec: arguments missing");
	const char *cname = p->contract ? p->contract : "";
	const struct fc_contract *c = fc_contract_find(cname);
	if (!c)
		return fc_errf(errmsg, FC_ENOTFOUND, "unknown contract '%s'", cname);
	return fc_exec_contract(c, p->function, p->args, p->n_args, r, out, errmsg);
}

void fc_exec_result_clear(struct fc_exec_result *res)
{
	if (!res)
		return;
	fc_free(res->rwset);
	fc_free(res->response);
	memset(res, 0, sizeof *res);
}
