/* Errors as values: every fallible tappa call returns a tappa_status and, when
 * given a tappa_error, fills it with one human-readable line. The library never
 * prints and never exits; callers decide what to do with the message. */
#ifndef TAPPA_STATUS_H
#define TAPPA_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tappa_status {
    TAPPA_OK = 0,
    TAPPA_ERR_INVALID_ARG,  /* caller passed something that cannot work (shape, dtype, NULL) */
    TAPPA_ERR_IO,           /* open/read/write/rename failed */
    TAPPA_ERR_FORMAT,       /* a file is malformed: bad magic, truncated, header lies */
    TAPPA_ERR_UNSUPPORTED,  /* valid request the backend/device cannot do (e.g. f16 without 16-bit storage) */
    TAPPA_ERR_NO_MEMORY,    /* host or device allocation failed */
    TAPPA_ERR_NO_DEVICE,    /* no Vulkan loader/device, or the requested device does not exist */
    TAPPA_ERR_VULKAN,       /* a Vulkan call returned an error VkResult */
    TAPPA_ERR_LIMIT,        /* a size exceeds a format or device limit */
} tappa_status;

#define TAPPA_ERROR_MESSAGE_BYTES 512

/* Filled by a failing call; message is one line without a trailing newline. */
typedef struct tappa_error {
    tappa_status status;
    char message[TAPPA_ERROR_MESSAGE_BYTES];
} tappa_error;

/* Short stable name of a status ("format", "vulkan", ...), for logs and JSON. */
const char *tappa_status_name(tappa_status status);

/* Record a failure in err (may be NULL) with a printf-style message and return
 * status, so library code can write `return tappa_fail(err, TAPPA_ERR_IO, ...)`. */
tappa_status tappa_fail(tappa_error *err, tappa_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
