#include "refusals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct slot {
        bool used;
        bool prompt; /* the uid's first refusal: due at once */
        int64_t window_end;
        struct evd_refusal sum;
};

/* Slots for EVD_REFUSALS_UIDS_MAX uids, then the overflow slot. */
struct evd_refusals {
        struct slot slots[EVD_REFUSALS_UIDS_MAX + 1];
};

struct evd_refusals *evd_refusals_new(void)
{
        return calloc(1, sizeof(struct evd_refusals));
}

void evd_refusals_free(struct evd_refusals *r)
{
        free(r);
}

static struct slot *slot_for(struct evd_refusals *r, const struct evd_actor *actor, int64_t now)
{
        struct slot *s, *free_slot = NULL;

        for (size_t i = 0; i < EVD_REFUSALS_UIDS_MAX; i++) {
                s = &r->slots[i];
                if (s->used && s->sum.actor.uid == actor->uid)
                        return s;
                if (!s->used && !free_slot)
                        free_slot = s;
        }
        s = free_slot ? free_slot : &r->slots[EVD_REFUSALS_UIDS_MAX];
        if (s->used)
                return s; /* the overflow slot, already counting */
        memset(s, 0, sizeof(*s));
        s->used = true;
        s->prompt = true;
        s->window_end = now + EVD_REFUSALS_WINDOW_S;
        if (free_slot) {
                s->sum.actor = *actor;
        } else {
                s->sum.actor.uid = EVD_REFUSALS_OVERFLOW_UID;
                (void)snprintf(s->sum.actor.name, sizeof(s->sum.actor.name), "(other users)");
        }
        return s;
}

void evd_refusals_note(struct evd_refusals *r, const struct evd_actor *actor, const char *cmd,
                       const char *why, int64_t now)
{
        struct slot *s = slot_for(r, actor, now);
        struct evd_refusal *sum = &s->sum;
        size_t i;

        if (sum->count++ == 0)
                sum->first = now;
        sum->last = now;
        (void)snprintf(sum->reason, sizeof(sum->reason), "%s", why);
        for (i = 0; i < sum->n_commands; i++)
                if (strcmp(sum->commands[i].name, cmd) == 0)
                        break;
        if (i == sum->n_commands) {
                if (i == EVD_REFUSALS_COMMANDS_MAX) {
                        sum->other_commands++;
                        return;
                }
                (void)snprintf(sum->commands[i].name, sizeof(sum->commands[i].name), "%s", cmd);
                sum->n_commands++;
        }
        sum->commands[i].count++;
}

static bool slot_due(const struct slot *s, int64_t now)
{
        /* A clock set back by more than a window ends the window too. */
        return s->used && s->sum.count > 0 &&
               (s->prompt || now >= s->window_end || now < s->window_end - EVD_REFUSALS_WINDOW_S);
}

bool evd_refusals_due(const struct evd_refusals *r, int64_t now)
{
        for (size_t i = 0; i <= EVD_REFUSALS_UIDS_MAX; i++)
                if (slot_due(&r->slots[i], now))
                        return true;
        return false;
}

size_t evd_refusals_take(struct evd_refusals *r, int64_t now, bool all, struct evd_refusal *out,
                         size_t n)
{
        size_t taken = 0;

        for (size_t i = 0; i <= EVD_REFUSALS_UIDS_MAX && taken < n; i++) {
                struct slot *s = &r->slots[i];
                struct evd_actor actor = s->sum.actor;

                if (!s->used)
                        continue;
                if (s->sum.count == 0) {
                        if (now >= s->window_end || all)
                                s->used = false; /* a quiet window: the uid is forgotten */
                        continue;
                }
                if (!all && !slot_due(s, now))
                        continue;
                out[taken++] = s->sum;
                memset(&s->sum, 0, sizeof(s->sum));
                s->sum.actor = actor;
                if (s->prompt)
                        s->prompt = false; /* the window goes on; its rest is due at its end */
                else
                        s->window_end = now + EVD_REFUSALS_WINDOW_S;
        }
        return taken;
}

json_t *evd_refusal_details(const struct evd_refusal *refusal)
{
        char first[EVD_TIME_STR], last[EVD_TIME_STR];
        json_t *commands = json_object(), *details;

        for (size_t i = 0; commands && i < refusal->n_commands; i++)
                (void)json_object_set_new(commands, refusal->commands[i].name,
                                          json_integer((json_int_t)refusal->commands[i].count));
        evd_time_format(refusal->first, first);
        evd_time_format(refusal->last, last);
        details = json_pack("{sI ss ss so ss}", "count", (json_int_t)refusal->count, "first", first,
                            "last", last, "commands", commands, "reason", refusal->reason);
        if (details && refusal->other_commands)
                (void)json_object_set_new(details, "other_commands",
                                          json_integer((json_int_t)refusal->other_commands));
        return details;
}

const char *evd_refusal_subject(const struct evd_refusal *refusal, char *buf, size_t size)
{
        size_t used = 0;

        if (size == 0)
                return "";
        buf[0] = '\0';
        for (size_t i = 0; i < refusal->n_commands; i++) {
                int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "",
                                 refusal->commands[i].name);

                if (w < 0 || (size_t)w >= size - used)
                        break; /* cut at the last whole name that fits */
                used += (size_t)w;
        }
        buf[used] = '\0';
        return buf;
}
