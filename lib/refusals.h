/* refusals: refused control requests counted per uid, so that a flood of them costs
 * one audit entry a minute and no disk write on the loop.
 *
 * The control socket notes each refusal here (memory only, no I/O, O(slots)). A uid's
 * first refusal is due at once; what follows it is counted for a window of
 * EVD_REFUSALS_WINDOW_S seconds and is due, as one summary with a count, when the
 * window ends. A window that ends with nothing counted frees its slot. The table holds
 * EVD_REFUSALS_UIDS_MAX uids; refusals from further uids are counted in one shared
 * overflow summary (actor uid EVD_REFUSALS_OVERFLOW_UID), so nothing grows with the
 * number of uids. Not thread-safe: one thread (the loop) notes and takes. */
#ifndef EVD_REFUSALS_H
#define EVD_REFUSALS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"

#define EVD_REFUSALS_WINDOW_S 60
#define EVD_REFUSALS_UIDS_MAX 64
#define EVD_REFUSALS_COMMANDS_MAX 32 /* distinct command names kept per summary */
#define EVD_REFUSALS_OVERFLOW_UID UINT32_MAX

/* What one uid had refused over one window. */
struct evd_refusal {
        struct evd_actor actor;
        uint64_t count;
        int64_t first, last; /* seconds since the epoch */
        struct {
                char name[32];
                uint64_t count;
        } commands[EVD_REFUSALS_COMMANDS_MAX];
        size_t n_commands;
        uint64_t other_commands; /* refusals of names past the first few */
        char reason[160];        /* the latest refusal's reason */
};

struct evd_refusals;

/* A table (caller frees with evd_refusals_free). NULL when out of memory. */
struct evd_refusals *evd_refusals_new(void);
void evd_refusals_free(struct evd_refusals *r);

/* Count one refusal of cmd (borrowed) for actor at time now, with why (borrowed). */
void evd_refusals_note(struct evd_refusals *r, const struct evd_actor *actor, const char *cmd,
                       const char *why, int64_t now);

/* Copy the summaries due at now (every one with a count when all) into out, at most n
 * of them, and reset what was copied. Returns how many were copied. */
size_t evd_refusals_take(struct evd_refusals *r, int64_t now, bool all, struct evd_refusal *out,
                         size_t n);

/* True when some summary is due at now. */
bool evd_refusals_due(const struct evd_refusals *r, int64_t now);

/* The audit details of a summary: {count, first, last, commands: {name: n}, reason}
 * (caller owns), and its subject: the commands' names joined by ',' into buf. */
json_t *evd_refusal_details(const struct evd_refusal *refusal);
const char *evd_refusal_subject(const struct evd_refusal *refusal, char *buf, size_t size);

#endif
