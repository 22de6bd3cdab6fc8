"""Generated file content for the Google sandbox: PDFs (from a PRNG keyed by the file id,
padded to a size), Word documents and Excel workbooks, built with the standard library.
"""

from __future__ import annotations

import io
import random
import unicodedata
import zipfile

__all__ = ["make_docx", "make_pdf", "make_xlsx"]


def ascii_text(text: str) -> str:
    """Text a PDF base-14 font can show (names lose their accents)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


# -- generated content ----------------------------------------------------------------------


def _pdf_escape(line: str) -> str:
    return ascii_text(line).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: list[str], size: int | None = None, seed: str = "") -> bytes:
    """A valid one-page PDF showing ``lines``; with ``size``, padded to exactly that many
    bytes by an unreferenced binary stream of seeded PRNG bytes (fixed-width numbers keep
    the arithmetic exact)."""
    text = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(
        f"({_pdf_escape(x)}) '" for x in lines) + " ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text.encode("latin-1") + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]

    def assemble(pad: bytes | None) -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        body = list(objs)
        if pad is not None:
            body.append(b"<< /Length %010d >>\nstream\n" % len(pad) + pad + b"\nendstream")
        offsets = []
        for i, obj in enumerate(body, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % i + obj + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(body) + 1))
        for off in offsets:
            out.write(b"%010d 00000 n \n" % off)
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%010d\n%%%%EOF\n"
                  % (len(body) + 1, xref))
        return out.getvalue()

    if size is None:
        return assemble(None)
    overhead = len(assemble(b""))
    pad_len = max(0, size - overhead)
    return assemble(random.Random(seed).randbytes(pad_len))


def _zip(parts: dict[str, str]) -> bytes:
    """A deterministic zip (fixed timestamps) of text parts: docx/xlsx containers."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxml'
         'formats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
         'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{}"/>'
         '</Relationships>')


def make_docx(text: str) -> bytes:
    paras = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{_xml(line)}</w:t></w:r></w:p>"
                    for line in text.split("\n"))
    return _zip({
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://'
        'schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default '
        'Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.'
        'main+xml"/></Types>',
        "_rels/.rels": _RELS.format("word/document.xml"),
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http:'
        '//schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' + paras
        + "</w:body></w:document>",
    })


def col_letters(n: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def make_xlsx(tabs: list[tuple[str, list[list[str]]]]) -> bytes:
    parts: dict[str, str] = {}
    sheets, rels, overrides = [], [], []
    for i, (title, rows) in enumerate(tabs, start=1):
        cells = "".join(
            f'<row r="{r}">' + "".join(
                f'<c r="{col_letters(c)}{r}" t="inlineStr"><is><t>{_xml(v)}</t></is></c>'
                for c, v in enumerate(row, start=1) if v != "") + "</row>"
            for r, row in enumerate(rows, start=1))
        parts[f"xl/worksheets/sheet{i}.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxml'
            f'formats.org/spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>')
        sheets.append(f'<sheet name="{_xml(title)}" sheetId="{i}" r:id="rId{i}"/>')
        rels.append(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/office'
                    f'Document/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>')
        overrides.append(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="'
                         'application/vnd.openxmlformats-officedocument.spreadsheetml.'
                         'worksheet+xml"/>')
    parts["[Content_Types].xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
        '/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
        'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
        'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' + "".join(overrides)
        + "</Types>")
    parts["_rels/.rels"] = _RELS.format("xl/workbook.xml")
    parts["xl/workbook.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
        'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument'
        f'/2006/relationships"><sheets>{"".join(sheets)}</sheets></workbook>')
    parts["xl/_rels/workbook.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxml'
        f'formats.org/package/2006/relationships">{"".join(rels)}</Relationships>')
    return _zip(parts)
