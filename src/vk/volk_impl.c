/* Compiles the system's single-file volk (Debian: libvulkan-volk-dev ships
 * volk.c beside volk.h) into the library, so libvulkan is loaded at run time. */
#include <volk.c>
