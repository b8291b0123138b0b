/*
 * libgit2 and libcrypto, loaded when first needed (see libs.c).
 */
#ifndef RELRUN_GIT_LIBS_H
#define RELRUN_GIT_LIBS_H

/* 0 once the library is there to call; -1 (and rgit_libs_error() says
 * why) when it cannot be loaded. Call before the first call into it. */
int rgit_need_libgit2(void);
int rgit_need_libcrypto(void);

/* "cannot load libgit2.so.1.5: ...", or NULL when every load succeeded. */
const char *rgit_libs_error(void);

#endif
