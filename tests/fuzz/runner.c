/*
 * The corpus runner: linked with one harness instead of libFuzzer in the
 * normal and the ASan builds, it feeds every file of the folders (or files)
 * given as arguments to LLVMFuzzerTestOneInput, in name order. A harness
 * aborts on a bug, so `ctest -R fuzz/` replays every seed and every input
 * that once crashed (the regressions) on each `make test`.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input gets a buffer of its exact size, so ASan sees a read past its end. */
static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;
    size_t n;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        perror(path);
        if (f != NULL) fclose(f);
        return -1;
    }
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (buf == NULL || n != (size_t)st.st_size) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of `dir`, sorted; the count run, or -1. */
static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    int count = 0;
    if (d == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char **p;
        if (e->d_name[0] == '.') continue;
        p = realloc(names, (n + 1) * sizeof *names);
        if (p == NULL) break;
        names = p;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0) count = -1;
            else if (count >= 0) count++;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv) {
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int n;
        if (stat(argv[i], &st) != 0) { perror(argv[i]); return 1; }
        n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0) return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "%s: no inputs (give corpus folders or files)\n", argv[0]);
        return 1;
    }
    printf("%s: %d inputs, no failure\n", argv[0], total);
    return 0;
}
