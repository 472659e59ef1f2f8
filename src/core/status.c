#include <stdarg.h>
#include <stdio.h>

#include "tappa/status.h"

const char *tappa_status_name(tappa_status status)
{
    switch (status) {
    case TAPPA_OK: return "ok";
    case TAPPA_ERR_INVALID_ARG: return "invalid-argument";
    case TAPPA_ERR_IO: return "io";
    case TAPPA_ERR_FORMAT: return "format";
    case TAPPA_ERR_UNSUPPORTED: return "unsupported";
    case TAPPA_ERR_NO_MEMORY: return "no-memory";
    case TAPPA_ERR_NO_DEVICE: return "no-device";
    case TAPPA_ERR_VULKAN: return "vulkan";
    case TAPPA_ERR_LIMIT: return "limit";
    }
    return "unknown";
}

tappa_status tappa_fail(tappa_error *err, tappa_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
        /* One line, always: a newline inside a message would break CLI output. */
        for (char *c = err->message; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
    }
    return status;
}
