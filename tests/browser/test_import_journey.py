import threading
import zipfile

from factories import EXPORTS, add_plays, make_user, play
from music_time_machine import db, users
from music_time_machine.clock import utcnow



def test_upload_a_zip_follow_the_progress_read_the_report_and_see_the_home_numbers_change(page, app, engine, tmp_path):
    # The background import waits until the test has seen the progress page.
    gate = threading.Event()

    def run_after_the_gate(job, *args):
        threading.Thread(target=lambda: gate.wait(10) and job(*args), daemon=True).start()

    app.extensions["mtm_import_runner"] = run_after_the_gate
    with db.transaction(engine) as conn:
        alice = make_user(conn, "alice")
        add_plays(conn, alice, play("Björk", "Jóga", "2019-01-01T10:00:00"))
        token = users.create_login_token(conn, alice, now=utcnow(), minutes=15)
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("Streaming_History_Audio_2024.json", "Streaming_History_Audio_2021-2023_1.json"):
            zipped.write(EXPORTS / name, f"Spotify Extended Streaming History/{name}")
        zipped.writestr("Spotify Extended Streaming History/broken.json", "[{")

    page.goto(f"/login/{token}")
    page.click("#use-login-link")
    page.wait_for_url("**/")
    assert page.locator('[data-stat="plays"]').inner_text() == "1"

    page.click("text=Import")
    page.set_input_files("#export", str(archive))
    page.check("input[name=include_incognito]")
    page.click("#start-import")
    page.wait_for_url("**/import/*")
    assert page.locator("#files-done").inner_text() == "0"
    assert page.locator("#refresh").is_visible()
    page.goto("/")  # while the import runs, the pages say their figures may be from before it
    assert page.locator("#import-running").is_visible()
    assert page.locator('[data-stat="plays"]').inner_text() == "1"
    page.go_back()
    gate.set()
    # The page's script polls the progress and shows the report when the import is over.
    page.locator('#import-status[data-status="failed"]').wait_for()
    assert "broken.json is cut off" in page.locator("#import-report").inner_text()
    assert page.locator('[data-total="added"]').inner_text() == "8"

    page.click("text=Home")
    assert page.locator('[data-stat="plays"]').inner_text() == "6"  # 1 + 8 added, less 3 podcast and audiobook plays
    assert page.locator("#import-running").count() == 0
    page.goto("/imports")
    assert page.locator("#imports").inner_text().count("my_spotify_data.zip") == 1
