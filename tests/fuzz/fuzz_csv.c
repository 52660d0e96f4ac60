/*
 * tests/fuzz/fuzz_csv.c - the file backend's CSV reader on any bytes.
 * Records come in order and within the buffer; a record the reader calls
 * clean is written back by the writer byte for byte; and what the writer
 * writes for any record's values reads back as the same values.
 */
#include "fuzz.h"
#include "../../plugins/file/csv.h"

static void check_round_trip(const csv_record *rec)
{
    size_t n = rec->nfields < CSV_MAX_FIELDS ? rec->nfields : CSV_MAX_FIELDS;
    csv_buf out = { 0 };
    csv_reader again;
    csv_record back;

    /* After a first line, as a row follows the header (a byte order mark
     * is skipped only at the start of a file). */
    FUZZ_ASSERT(file_csv_buf_append(&out, "h\r\n", 3) == 0);
    FUZZ_ASSERT(file_csv_write_fields(&out, rec->value, rec->len, n) == 0);
    file_csv_reader_init(&again, out.data, out.len);
    FUZZ_ASSERT(file_csv_read(&again, &back) == CSV_RECORD);
    FUZZ_ASSERT(file_csv_read(&again, &back) == CSV_RECORD);
    FUZZ_ASSERT(back.nfields == n && back.clean && back.end == out.len);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(back.len[i] == rec->len[i] &&
                    memcmp(back.value[i], rec->value[i], rec->len[i]) == 0);
    file_csv_reader_free(&again);
    file_csv_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_reader r;
    csv_record rec;
    csv_status st;
    size_t last_end = 0;

    file_csv_reader_init(&r, (const char *)data, size);
    while ((st = file_csv_read(&r, &rec)) == CSV_RECORD) {
        FUZZ_ASSERT(rec.start >= last_end && rec.start <= rec.stop && rec.stop <= rec.end &&
                    rec.end <= size);
        last_end = rec.end;
        if (rec.clean && rec.nfields <= CSV_MAX_FIELDS) {
            csv_buf out = { 0 };
            FUZZ_ASSERT(file_csv_write_fields(&out, rec.value, rec.len, rec.nfields) == 0);
            FUZZ_ASSERT(out.len == rec.stop - rec.start &&
                        memcmp(out.data, data + rec.start, out.len) == 0);
            file_csv_buf_free(&out);
        }
        if (rec.nfields <= CSV_MAX_FIELDS)
            check_round_trip(&rec);
    }
    FUZZ_ASSERT(st == CSV_END || (r.err_msg && r.err_line >= 1));
    file_csv_reader_free(&r);
    return 0;
}
