/*
 * libgit2 and libcrypto, loaded when first needed.
 *
 * Mapping libgit2 with the fourteen libraries it brings (mbedTLS, libssh2,
 * Kerberos, PCRE ...) and libcrypto costs ~1.4 ms, as much as the rest of
 * `relrun version` on a small repository, and most runs never call either:
 * relrun's own readers answer HEAD, refs, describe and status, and SHA-1
 * is needed only for a file whose index entry is racily clean. So the
 * relrun program's relrun_git.so is linked without them (CMakeLists.txt
 * passes their sonames as RGIT_LIBGIT2 and RGIT_LIBCRYPTO) and its calls
 * into them are bound lazily, at the first call: these functions put each
 * library in the global scope before anything calls it (libgit2 before
 * git_libgit2_init, which every libgit2 call follows; libcrypto before the
 * first digest). librelrun and the sanitizer build link both libraries:
 * there they do nothing.
 */
#include "libs.h"

#include <dlfcn.h>
#include <stdio.h>

static char load_error[512];

#if defined(RGIT_LIBGIT2) || defined(RGIT_LIBCRYPTO)
/* state: 0 not tried, 1 loaded, -1 failed (not retried: the same error) */
static int load(const char *soname, int *state) {
    if (*state == 0) {
        *state = dlopen(soname, RTLD_LAZY | RTLD_GLOBAL) != NULL ? 1 : -1;
        if (*state < 0)
            snprintf(load_error, sizeof load_error, "cannot load %s: %s (install the library it names; "
                     "relrun's package depends on it)", soname, dlerror());
    }
    return *state > 0 ? 0 : -1;
}
#endif

int rgit_need_libgit2(void) {
#ifdef RGIT_LIBGIT2
    static int state;
    return load(RGIT_LIBGIT2, &state);
#else
    return 0;
#endif
}

int rgit_need_libcrypto(void) {
#ifdef RGIT_LIBCRYPTO
    static int state;
    return load(RGIT_LIBCRYPTO, &state);
#else
    return 0;
#endif
}

const char *rgit_libs_error(void) {
    return load_error[0] != '\0' ? load_error : NULL;
}
