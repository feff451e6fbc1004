/* libFuzzer target: what the web console makes of a request's bytes. The input is
 * split at the first two newlines into a path, a Cookie header and a form body; each
 * goes through the route table, the cookie reader and the form parser, and every
 * decoded value is HTML-escaped: no crash, no leak, no '<' or '"' left in the escaped
 * text, and a route's parameter is made only of safe characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console_pages.h"
#include "ctlclient.h"
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_escaped(const char *s)
{
        struct evd_buf b = { .max = 1 << 20 };

        if (evd_web_text(&b, s) == 0 && b.data && (strchr(b.data, '<') || strchr(b.data, '"')))
                abort();
        evd_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size + 1), *path, *cookie, *body, *nl, param[65], v[256];
        struct evd_web_form form = { 0 };
        struct evd_err err = { 0 };
        json_t *p = NULL, *r = NULL;
        int id;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        path = text;
        cookie = body = text + strlen(text);
        if ((nl = strchr(path, '\n'))) {
                *nl = '\0';
                cookie = nl + 1;
                if ((nl = strchr(cookie, '\n'))) {
                        *nl = '\0';
                        body = nl + 1;
                }
        }
        id = evd_web_route(evd_console_routes, evd_console_n_routes, "GET", path, param,
                           sizeof(param));
        if (id >= 0)
                for (const char *q = param; *q; q++)
                        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                    "._-",
                                    *q))
                                abort();
        if (evd_web_cookie(cookie, "evd_session", v, sizeof(v)) == 0)
                check_escaped(v);
        if (evd_web_form_parse(body, strlen(body), &form) == 0) {
                for (size_t i = 0; i < form.n; i++) {
                        check_escaped(form.f[i].name);
                        check_escaped(form.f[i].value);
                }
                evd_web_form_free(&form);
        }
        check_escaped(text);
        /* The same bytes as a reply line of the control protocol. */
        if (evd_ctl_parse_reply((const char *)data, size, &p, &r, &err) >= 0) {
                json_decref(p);
                json_decref(r);
        }
        free(text);
        return 0;
}
