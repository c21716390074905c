/* The CIFAR-10 reader on good, truncated and mislabelled files and a
 * missing directory; MD5; synthetic data; splits; batches. */
#include "check.h"
#include "data.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void write_records(const char *name, int n, int bad_label_at, long cut)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < n; i++) {
        unsigned char rec[CIFAR_RECORD_BYTES];
        rec[0] = (unsigned char)(i == bad_label_at ? 10 : i % 10);
        for (int j = 1; j < CIFAR_RECORD_BYTES; j++) rec[j] = (unsigned char)(i + j);
        fwrite(rec, 1, sizeof rec, f);
    }
    fclose(f);
    if (cut > 0) truncate(path, (off_t)n * CIFAR_RECORD_BYTES - cut);
}

static void test_reader(void)
{
    char path[128];
    dataset d = {0};
    write_records("good.bin", 5, -1, 0);
    snprintf(path, sizeof path, "%s/good.bin", dir);
    CHECK(cifar10_read_file(path, &d, 0) == MOECL_OK, "%s", moecl_last_error());
    CHECK(d.count == 5 && d.labels[3] == 3 && d.pixels[CIFAR_IMAGE_BYTES * 2] == 3,
          "records read in order");
    dataset_free(&d);
    CHECK(cifar10_read_file(path, &d, 2) == MOECL_OK && d.count == 2, "a limit is honoured");
    dataset_free(&d);

    write_records("truncated.bin", 5, -1, 100);
    snprintf(path, sizeof path, "%s/truncated.bin", dir);
    CHECK(cifar10_read_file(path, &d, 0) == MOECL_ERR_FORMAT, "a truncated file is refused");
    CHECK(strstr(moecl_last_error(), "truncated.bin") && strstr(moecl_last_error(), "record 4"),
          "names the file and the record: %s", moecl_last_error());
    CHECK(d.count == 0, "nothing read from a bad file");

    write_records("label10.bin", 6, 4, 0);
    snprintf(path, sizeof path, "%s/label10.bin", dir);
    CHECK(cifar10_read_file(path, &d, 0) == MOECL_ERR_FORMAT, "a label of 10 is refused");
    CHECK(strstr(moecl_last_error(), "label10.bin") && strstr(moecl_last_error(), "record 4") &&
              strstr(moecl_last_error(), "label 10"),
          "names the file, record and label: %s", moecl_last_error());
    dataset_free(&d);

    CHECK(cifar10_load("/nonexistent/cifar", true, 0, &d) == MOECL_ERR_IO, "missing directory");
    CHECK(strstr(moecl_last_error(), "/nonexistent/cifar/data_batch_1.bin") != NULL,
          "names the missing file: %s", moecl_last_error());
    char out[256];
    CHECK(cifar10_locate("/nonexistent/cifar", out, sizeof out) == MOECL_ERR_IO,
          "--data that holds nothing");
    CHECK(strstr(moecl_last_error(), "does not hold") != NULL, "%s", moecl_last_error());
}

static void test_md5(void)
{
    char hex[33];
    moecl_md5_hex("", 0, hex);
    CHECK(strcmp(hex, "d41d8cd98f00b204e9800998ecf8427e") == 0, "md5('') = %s", hex);
    moecl_md5_hex("abc", 3, hex);
    CHECK(strcmp(hex, "900150983cd24fb0d6963f7d28e17f72") == 0, "md5('abc') = %s", hex);
    const char *fox = "The quick brown fox jumps over the lazy dog, and on and on, past 64 bytes";
    moecl_md5_hex(fox, strlen(fox), hex);
    CHECK(strlen(hex) == 32, "long input");
}

static void test_synthetic_and_batches(void)
{
    dataset d = {0}, tail = {0}, none = {0};
    CHECK(dataset_synthetic(300, 5, &d) == MOECL_OK && d.count == 300, "synthetic set");
    int counts[10] = {0};
    for (int i = 0; i < d.count; i++) counts[d.labels[i]]++;
    int empty = 0;
    for (int k = 0; k < 10; k++) empty += counts[k] == 0;
    CHECK(empty == 0, "every class present");
    CHECK(dataset_split_tail(&d, 50, &tail) == MOECL_OK && d.count == 250 && tail.count == 50,
          "split");
    CHECK(dataset_split_tail(&d, 250, &none) == MOECL_ERR_INVALID_ARG, "a split that leaves nothing");
    dataset_filter_classes(&tail, 1u << 0 | 1u << 1 | 1u << 8 | 1u << 9);
    int wrong = 0;
    for (int i = 0; i < tail.count; i++) wrong += !(tail.labels[i] <= 1 || tail.labels[i] >= 8);
    CHECK(wrong == 0 && tail.count > 0, "class filter keeps {0,1,8,9}");

    normalizer n = normalizer_fit(&d);
    int idx[2] = {0, 1}, labels[2];
    float *plain = malloc(2 * CIFAR_IMAGE_BYTES * sizeof *plain);
    float *flipped = malloc(2 * CIFAR_IMAGE_BYTES * sizeof *flipped);
    dataset_make_batch(&d, idx, 2, &n, NULL, NULL, plain, labels, NULL);
    CHECK(labels[0] == d.labels[0] && labels[1] == d.labels[1], "labels follow the indices");
    float want = (d.pixels[5] / 255.0f - n.mean[0]) / n.std[0];
    CHECK(fabsf(plain[5] - want) < 1e-5f, "normalised pixel %g, expected %g", plain[5], want);
    /* flip only: each row reversed */
    augment aug = {.flip = true};
    int bad = 0, flips = 0, misreported = 0;
    for (uint64_t s = 1; s < 5; s++) {
        uint64_t rng = s;
        bool said = false;
        dataset_make_batch(&d, idx, 1, &n, &aug, &rng, flipped, labels, &said);
        bool is_flip = flipped[0] == plain[31];
        flips += is_flip;
        misreported += said != is_flip;
        for (int x = 0; x < 32; x++) bad += flipped[x] != (is_flip ? plain[31 - x] : plain[x]);
    }
    CHECK(bad == 0 && flips > 0 && flips < 4, "flips reverse rows (%d of 4 flipped)", flips);
    CHECK(misreported == 0, "the batch says which images it mirrored (%d wrong)", misreported);
    /* translate only: a shift by dy, dx in -2..2 with the border reflected */
    augment shift = {.translate = true};
    int unmatched = 0, shifts_seen = 0;
    bool seen[25] = {false};
    for (uint64_t s = 1; s < 13; s++) {
        uint64_t rng = s;
        dataset_make_batch(&d, idx, 1, &n, &shift, &rng, flipped, labels, NULL);
        int found = -1;
        for (int k = 0; k < 25 && found < 0; k++) {
            int dy = k / 5 - 2, dx = k % 5 - 2, off = 0;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++) {
                        int sy = y + dy, sx = x + dx;
                        sy = sy < 0 ? -sy : sy > 31 ? 62 - sy : sy;
                        sx = sx < 0 ? -sx : sx > 31 ? 62 - sx : sx;
                        off += flipped[(c * 32 + y) * 32 + x] != plain[(c * 32 + sy) * 32 + sx];
                    }
            if (off == 0) found = k;
        }
        unmatched += found < 0;
        if (found >= 0 && !seen[found]) seen[found] = true, shifts_seen++;
    }
    CHECK(unmatched == 0, "every translated image is a reflect-padded shift (%d not)", unmatched);
    CHECK(shifts_seen >= 4, "the shifts vary (%d different in 12)", shifts_seen);
    /* alternating flips: each image mirrored in every other epoch, some
     * starting mirrored and some not; the same image, epoch and seed alike */
    augment alt = {0};
    CHECK(augment_parse("alternate,translate", &alt) && alt.alternate && alt.translate && !alt.flip,
          "alternate parses");
    alt.translate = false;
    alt.seed = 77;
    int started[2] = {0, 0}, not_alternating = 0;
    for (int image = 0; image < 40; image++) {
        int one[1] = {image}, lab[1];
        bool was[3];
        for (int e = 0; e < 3; e++) {
            alt.epoch = e;
            dataset_make_batch(&d, one, 1, &n, &alt, NULL, flipped, lab, &was[e]);
        }
        not_alternating += was[0] == was[1] || was[1] == was[2];
        started[was[0]]++;
    }
    CHECK(not_alternating == 0, "every image alternates (%d do not)", not_alternating);
    CHECK(started[0] > 5 && started[1] > 5, "some start mirrored, some not (%d, %d)", started[0],
          started[1]);
    dataset_make_view_batch(&d, idx, 2, &n, true, 0, 0, flipped, labels);
    bad = 0;
    for (int i = 0; i < 2 * CIFAR_IMAGE_BYTES; i++) bad += flipped[i] != plain[i - i % 32 + 31 - i % 32];
    CHECK(bad == 0 && labels[1] == d.labels[1], "a mirrored batch reverses every row (%d off)", bad);
    dataset_make_view_batch(&d, idx, 2, &n, false, 0, 0, flipped, labels);
    CHECK(memcmp(flipped, plain, 2 * CIFAR_IMAGE_BYTES * sizeof *plain) == 0, "unmirrored: as is");
    free(plain), free(flipped);
    dataset_free(&d), dataset_free(&tail);
}

static void test_augment_parse(void)
{
    struct { const char *text; bool ok, crop, flip, translate; } cases[] = {
        {"crop", true, true, false, 0},       {"flip", true, false, true, 0},
        {"crop,flip", true, true, true, 0},   {"flip,crop", true, true, true, 0},
        {"", false, 0, 0, 0},                 {"flop", false, 0, 0, 0},
        {"crop,", false, 0, 0, 0},            {"crops", false, 0, 0, 0},
        {",flip", false, 0, 0, 0},            {"crop,rotate", false, 0, 0, 0},
        {"none", true, false, false, 0},      {"none,flip", false, 0, 0, 0},
        {"crop,none", false, 0, 0, 0},        {"nones", false, 0, 0, 0},
        {"translate", true, false, false, 1}, {"translate,flip", true, false, true, 1},
        {"crop,translate", false, 0, 0, 0},   {"translates", false, 0, 0, 0},
        {"flip,alternate", false, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        augment a = {.crop = true, .flip = true, .translate = true};
        bool ok = augment_parse(cases[k].text, &a);
        CHECK(ok == cases[k].ok, "augment_parse('%s') %s", cases[k].text,
              cases[k].ok ? "accepted" : "refused");
        if (ok) CHECK(a.crop == cases[k].crop && a.flip == cases[k].flip && a.translate == cases[k].translate,
                      "'%s' sets crop %d flip %d translate %d", cases[k].text, cases[k].crop,
                      cases[k].flip, cases[k].translate);
        else CHECK(a.crop && a.flip && a.translate, "a refused '%s' leaves the options as they were",
                   cases[k].text);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moecl-data-test-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_reader();
    test_md5();
    test_synthetic_and_batches();
    test_augment_parse();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return check_summary("test_data");
}
