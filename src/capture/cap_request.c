
/*
 * Request shapes (array of events, batch object, single event) and the
 * rules that span events: one token per request, the allowlist.
 */


#include "cap_capture.h"


static int cap_request_token(cap_request_t *req, cap_batch_t *batch,
    cap_str_t *token, unsigned have, cap_error_t *err);


int
cap_request_parse(cap_pool_t *pool, cap_request_t *req, cap_json_t *root,
    cap_batch_t *batch, cap_error_t *err)
{
    size_t        n;
    unsigned      have_token, mismatch;
    cap_str_t     token, tok;
    cap_msec_t    ms;
    cap_json_t   *list, *v, *t;
    cap_event_t  *ev;

    memset(batch, 0, sizeof(cap_batch_t));

    batch->now = req->now;
    batch->recordings = (req->endpoint == CAP_ENDPOINT_RECORDINGS);

    if (req->has_query_sent_at
        && req->query_sent_at >= CAP_TIME_MIN_MS
        && req->query_sent_at <= CAP_TIME_MAX_MS)
    {
        batch->sent_at = req->query_sent_at;
        batch->has_sent_at = 1;
    }

    token.len = 0;
    token.data = NULL;
    have_token = 0;

    switch (root->type) {

    case CAP_JSON_ARRAY:
        list = root;
        break;

    case CAP_JSON_OBJECT:
        list = cap_json_get_literal(root, "batch");

        if (list == NULL) {
            /* a single event */
            list = root;
            break;
        }

        if (list->type != CAP_JSON_ARRAY) {
            return cap_error_set(err, CAP_E_PARSE,
                                 "failed to parse request: \"batch\" is not "
                                 "an array");
        }

        t = cap_json_get_literal(root, "api_key");
        if (t == NULL || t->type == CAP_JSON_NULL) {
            t = cap_json_get_literal(root, "token");
        }

        if (t != NULL && t->type != CAP_JSON_NULL) {
            if (t->type != CAP_JSON_STRING) {
                return cap_error_set(err, CAP_E_TOKEN_INVALID,
                                     "invalid token: not a string");
            }

            token = t->str;
            have_token = 1;
        }

        v = cap_json_get_literal(root, "sent_at");
        if (v != NULL && v->type == CAP_JSON_STRING
            && cap_time_parse(v->str.data, v->str.len, &ms) == CAP_OK)
        {
            batch->sent_at = ms;
            batch->has_sent_at = 1;
        }

        v = cap_json_get_literal(root, "historical_migration");
        if (v != NULL && v->type == CAP_JSON_TRUE) {
            batch->historical_migration = 1;
        }

        break;

    default:
        return cap_error_set(err, CAP_E_PARSE,
                             "failed to parse request: expected an event, "
                             "a list of events or a batch");
    }

    n = (list == root && root->type == CAP_JSON_OBJECT) ? 1 : list->count;

    if (n == 0) {
        return cap_error_set(err, CAP_E_NO_EVENTS,
                             "request holds no events");
    }

    batch->events = cap_alloc(pool, n * sizeof(cap_event_t));
    if (batch->events == NULL) {
        return cap_error_set(err, CAP_E_NOMEM, "out of memory");
    }

    /*
     * Every event is checked before any is accepted: a request is taken
     * whole or not at all.  Tokens: a batch-level token wins; otherwise
     * all events must name the same one.
     */

    mismatch = 0;
    v = (list == root && root->type == CAP_JSON_OBJECT) ? root : list->first;

    for ( /* void */ ; v != NULL; v = (v == root) ? NULL : v->next) {

        if (v->type != CAP_JSON_OBJECT) {
            return cap_error_set(err, CAP_E_PARSE,
                                 "failed to parse request: an event is not "
                                 "an object");
        }

        ev = &batch->events[batch->nevents];
        tok.len = 0;
        tok.data = NULL;

        if (cap_event_normalise(pool, req, batch, v, ev, &tok, err)
            != CAP_OK)
        {
            return CAP_ERROR;
        }

        if (ev->event.len == 0) {
            /* dropped, such as $performance_event */
            batch->dropped++;
            continue;
        }

        batch->nevents++;

        if (have_token == 1) {
            continue;
        }

        if (have_token == 0 && batch->nevents == 1) {
            token = tok;
            have_token = tok.data ? 2 : 3;
            continue;
        }

        /* 2: the events' token so far, 3: events without one so far */

        if ((have_token == 3) != (tok.data == NULL)
            || (tok.data != NULL
                && (tok.len != token.len
                    || memcmp(tok.data, token.data, tok.len) != 0)))
        {
            mismatch = 1;
        }
    }

    if (mismatch) {
        return cap_error_set(err, CAP_E_TOKEN_MISMATCH,
                             "batch submitted with inconsistent api_key "
                             "values");
    }

    if (batch->nevents == 0 && batch->dropped == 0) {
        return cap_error_set(err, CAP_E_NO_EVENTS,
                             "request holds no events");
    }

    return cap_request_token(req, batch, &token,
                             (have_token == 1 || have_token == 2), err);
}


static int
cap_request_token(cap_request_t *req, cap_batch_t *batch, cap_str_t *token,
    unsigned have, cap_error_t *err)
{
    size_t       i;
    const char  *why;

    if (!have) {
        if (batch->nevents == 0) {
            /* nothing but dropped events: nothing to check */
            return CAP_OK;
        }

        return cap_error_set(err, CAP_E_NO_TOKEN,
                             "event submitted without an api_key");
    }

    why = cap_token_invalid(token->data, token->len);
    if (why != NULL) {
        return cap_error_set(err, CAP_E_TOKEN_INVALID, "invalid token: %s",
                             why);
    }

    if (req->ntokens) {
        for (i = 0; i < req->ntokens; i++) {
            if (req->tokens[i].len == token->len
                && memcmp(req->tokens[i].data, token->data, token->len) == 0)
            {
                break;
            }
        }

        if (i == req->ntokens) {
            return cap_error_set(err, CAP_E_TOKEN_NOT_ALLOWED,
                                 "token is not accepted by this endpoint");
        }
    }

    batch->token = *token;

    return CAP_OK;
}


const char *
cap_token_invalid(const cap_uchar_t *p, size_t len)
{
    size_t  i;

    if (len == 0) {
        return "empty";
    }

    if (len > CAP_TOKEN_MAX_LEN) {
        return "longer than 64 bytes";
    }

    if (len >= 4 && memcmp(p, "phx_", 4) == 0) {
        return "a personal API key (phx_) cannot be used to capture";
    }

    for (i = 0; i < len; i++) {
        if (p[i] == '\0') {
            return "contains a NUL byte";
        }

        if (p[i] >= 0x80) {
            return "not ASCII";
        }
    }

    return NULL;
}
