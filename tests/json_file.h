/* Reading the JSON files the tests check (score, order and golden files,
 * the tools' stdout). */
#ifndef TAPPA_TESTS_JSON_FILE_H
#define TAPPA_TESTS_JSON_FILE_H

#include <stdio.h>

#include <cjson/cJSON.h>

/* The file at path (up to 1 MiB) parsed, or NULL when it is missing or not JSON. */
static inline cJSON *json_read_file(const char *path)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

#endif
