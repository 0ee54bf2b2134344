"""HTML to PDF through the system's headless Chromium: the report and the printable registers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from watchkeeper.core.files import replacing
from watchkeeper.core.i18n import _

#: Looked for in this order; Debian's package installs /usr/bin/chromium.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: A page of registers prints in a second or two; a stuck browser is given this long.
PRINT_TIMEOUT_SECONDS = 120


class PdfError(RuntimeError):
    """A PDF could not be made: no Chromium, or it failed; the message says which and what to do."""


def find_chromium() -> str | None:
    """The headless browser to print with, or None when none is installed."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def chromium_command(browser: str, page: Path, profile: Path, destination: Path) -> list[str]:
    """The command line: headless, no sandbox (the appliance's user), nothing that reaches the network,
    a fresh profile each time (two prints at once must not share one)."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={destination}", page.as_uri()]


def html_to_pdf(html: str, destination: Path) -> None:
    """Print `html` to `destination` as a PDF, whole or not at all; PdfError says why not."""
    browser = find_chromium()
    if browser is None:
        raise PdfError(_("PDF output needs Chromium (Debian package: chromium); HTML, JSON and xlsx work without it"))
    with tempfile.TemporaryDirectory(prefix="watchkeeper-pdf-") as folder:
        page, printed = Path(folder) / "page.html", Path(folder) / "page.pdf"
        page.write_text(html, encoding="utf-8")
        try:
            done = subprocess.run(chromium_command(browser, page, Path(folder) / "profile", printed),
                                  capture_output=True, timeout=PRINT_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(_("Chromium did not finish printing within {seconds} s").format(
                seconds=PRINT_TIMEOUT_SECONDS)) from None
        except OSError as error:
            raise PdfError(_("Chromium could not be started: {error}").format(error=error)) from None
        if done.returncode != 0 or not printed.exists() or printed.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise PdfError(_("Chromium failed to print the PDF (exit {code}): {detail}").format(
                code=done.returncode, detail=" / ".join(tail) or _("no message")))
        with replacing(destination) as temporary:
            shutil.copyfile(printed, temporary)
