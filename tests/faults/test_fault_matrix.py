"""The fault matrix (issue #21): a real Label Studio on PostgreSQL with Redis and RQ workers, and an ApertureDB,
broken the way production breaks them. Each case says what the user sees, recovers as a user would, and ends in
the exact state: one task per image with exactly its predictions, and every annotation in ApertureDB once, in its
final version. The cases share one stack and run in this order; the last one scans everything the run left for
the storages' secrets.

``LS_STORAGE_FAULT_SEED`` replays a run (the page ApertureDB is killed at, the annotators' choices); each run
otherwise draws its own and records it. ``LS_STORAGE_FAULT_REPORT=file.json`` records every case's outcome.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter

import pytest
from fault_stack import (
    PATHS,
    SCAN,
    CONNECT_TIMEOUT,
    QUERY_TIMEOUT,
    annotation_problems,
    annotation_write,
    box,
    page_query,
    random_boxes,
    redis_values,
    storage_secrets,
    task_problems,
    wait_for,
)
from ls_storage.testing.fixtures import seed_tagged_images

SEED = int(os.environ.get("LS_STORAGE_FAULT_SEED") or random.randrange(1_000_000))
SLACK = 4.0  # seconds beyond a timeout: retries, TLS, the worker's start and polling, on a loaded 2-core machine
ANNOTATORS, ANNOTATING_SECONDS, DOWN_SECONDS, UP_SECONDS = 16, 60, 2, 3
KILLED: dict = {}  # what the worker-kill case left for the late-callback check


def reason(text: str | None) -> str:
    """What a storage's traceback says went wrong: its message, or a Python traceback's last exception line."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Traceback"):
        return lines[0] if lines else ""
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception|Shutdown)\b.*:", line)]
    return (raised or lines)[-1]


def errors_of(answer) -> dict:
    """The field errors of a 400 from Label Studio's storage views."""
    return answer.get("validation_errors", answer) if isinstance(answer, dict) else {}


def synced_project(stack, title: str, tag: str, count: int, credentials: dict, boxes: int = 1):
    """A project with a source storage of ``count`` new images, synced; (seeded images, project, storage)."""
    seeded = seed_tagged_images(stack.server, tag, count, boxes=boxes, random_seed=SEED)
    project = stack.project(title)
    storage = stack.source(project, tag, credentials)
    stack.sync(storage)
    synced, _ = stack.wait_status(storage)
    assert synced["status"] == "completed", synced
    return seeded, project, storage


def resync_exactly(stack, case, project: int, storage: int, seeded) -> None:
    """Recovery's last step: a sync that completes with exactly one task per image and exactly its predictions."""
    stack.sync(storage)
    done, seconds = stack.wait_status(storage)
    assert done["status"] == "completed", done
    assert task_problems(stack, project, storage, seeded) == []
    case.outcome = (f"next sync completed in {seconds:.1f} s: exactly {len(seeded)} tasks, "
                    f"{sum(len(image.boxes) for image in seeded)} predicted boxes exact, no duplicates")


def annotations_exact(stack, case, project: int) -> None:
    """Every annotation of the project in ApertureDB exactly once, in its final version; the row counts the rest."""
    problems = annotation_problems(stack, project)
    case.annotations_lost = len(problems)
    assert problems == []


def target_synced_exactly(stack, case, project: int, target: int) -> None:
    """Recovery by a target Sync: it completes with nothing pending, and the annotations are exact."""
    stack.sync(target, "export")
    done, _ = stack.wait_status(target, "export")
    assert done["status"] == "completed" and not done["meta"].get("export_pending"), done
    stack.wait_idle()
    annotations_exact(stack, case, project)


def test_aperturedb_killed_at_a_random_page_of_a_sync(stack, case):
    """ApertureDB killed at a random page of a 5,000-image sync"""
    seeded = seed_tagged_images(stack.server, "killed", 5000, boxes=2, random_seed=SEED)
    project = stack.project("ApertureDB killed mid-sync")
    storage = stack.source(project, "killed", stack.secrets.password())
    page = random.Random(SEED).randint(1, 4)  # 0-based: at least one page is in before it dies
    case.details.update(seed=SEED, killed_at_page=page + 1, pages=5)
    stack.server.stop_on(page_query("killed", page * 1000))

    stack.sync(storage)
    failed, _ = stack.wait_status(storage)
    (partial,) = stack.sql("SELECT count(*) FROM task WHERE project_id = %s", project)[0]

    assert failed["status"] == "failed", failed
    assert "Cannot reach ApertureDB" in failed["traceback"], failed["traceback"]
    assert not stack.server.running and 0 < partial <= page * 1000
    case.sees(f"killed at page {page + 1} of 5: Sync → failed, “{reason(failed['traceback'])}” "
              f"({partial} tasks in)")
    stack.server.start()
    case.recovery = ["start ApertureDB again (its data kept)", "Sync"]
    resync_exactly(stack, case, project, storage, seeded)


def test_aperturedb_hanging_mid_sync(stack, case):
    """ApertureDB hangs mid-sync (accepts connections, answers nothing)"""
    seeded = seed_tagged_images(stack.server, "hanging", 2000, boxes=1, random_seed=SEED)
    project = stack.project("ApertureDB hanging mid-sync")
    storage = stack.source(project, "hanging", stack.secrets.token())
    hung = {}
    stack.server.when_query(page_query("hanging", 1000),
                            lambda: (hung.setdefault("at", time.monotonic()), stack.server.stall_after(0)))
    try:
        stack.sync(storage)
        failed, _ = stack.wait_status(storage)
        seconds = time.monotonic() - hung["at"]
    finally:
        stack.server.resume()

    assert failed["status"] == "failed", failed
    assert f"did not answer within {QUERY_TIMEOUT:g} s (APERTUREDB_QUERY_TIMEOUT)" in failed["traceback"]
    assert seconds <= QUERY_TIMEOUT + SLACK, seconds
    case.details["seconds_to_failed"] = round(seconds, 1)
    case.sees(f"Sync → failed {seconds:.1f} s after the hang (APERTUREDB_QUERY_TIMEOUT={QUERY_TIMEOUT}): "
              f"“{reason(failed['traceback'])}”")
    case.recovery = ["ApertureDB answers again", "Sync"]
    resync_exactly(stack, case, project, storage, seeded)


def test_check_connection_on_a_hanging_aperturedb(stack, case):
    """ApertureDB hangs on Check Connection, and on a Sync's own check"""
    seeded, project, storage = synced_project(stack, "Check Connection on a hang", "checked", 3, stack.secrets.key(
        stack.address))
    credentials = stack.secrets.password()
    stack.server.stall_after(0)
    try:
        answers = {}
        for kind in ("import", "export"):
            started = time.monotonic()
            answers[kind] = (stack.validate(kind, project, credentials, expect=(400,)), time.monotonic() - started)
        started = time.monotonic()
        answers["sync"] = (stack.sync(storage, expect=(400,)), time.monotonic() - started)
    finally:
        stack.server.resume()

    for what, (answer, seconds) in answers.items():
        message = " ".join(errors_of(answer).get("hostname", []))
        assert f"did not answer within {CONNECT_TIMEOUT:g} s" in message, (what, answer)
        assert seconds <= CONNECT_TIMEOUT + SLACK, (what, seconds)
        case.details[f"{what}_seconds"] = round(seconds, 1)
    case.sees(f"Check Connection (source and target) and Sync → 400 on hostname in "
              f"{max(s for _, s in answers.values()):.1f} s at most: “{errors_of(answers['import'][0])['hostname'][0]}”")
    listed = stack.listed(storage)
    assert listed["status"] == "completed", listed  # the refused Sync queued nothing
    case.recovery = ["none: Check Connection passes once ApertureDB answers"]
    stack.validate("import", project, credentials)
    assert task_problems(stack, project, storage, seeded) == []
    case.outcome = "the storage keeps its status and its 3 tasks; Check Connection passes again"


def test_aperturedb_hanging_mid_export(stack, case):
    """ApertureDB hangs while an annotation is exported, and mid target Sync"""
    seeded, project, _ = synced_project(stack, "ApertureDB hanging mid-export", "exporting", 6, stack.secrets.password())
    target = stack.target(project, stack.secrets.token())
    tasks = stack.task_ids(project)
    images = iter(seeded)

    def submit():
        image = next(images)
        return stack.annotate(tasks[image.uniqueid], [box("r1", image, 10, 10, 20, 20)])

    stack.server.stall_after(0)
    try:
        started = time.monotonic()
        submit()
        submit_seconds = time.monotonic() - started
        meta = wait_for(lambda: (m := stack.meta(target)).get("export_pending") and m, "export kept pending",
                        CONNECT_TIMEOUT + QUERY_TIMEOUT + 30)
    finally:
        stack.server.resume()
    assert submit_seconds < 3 and "did not answer within" in meta["last_export_error"], meta
    case.sees(f"submit → 201 in {submit_seconds:.2f} s")
    case.sees(f"the target's meta: export_pending, last_export_error “{meta['last_export_error']}”")
    submit()  # the next export writes what is pending
    wait_for(lambda: not stack.meta(target).get("export_pending"), "pending export written", 60)
    stack.wait_idle()
    assert annotation_problems(stack, project) == []

    for _ in range(3):
        submit()
    stack.wait_idle()
    # Everything is written by now, so an incremental Sync would write nothing: ask this one to write it all.
    stack.client.call("PATCH", f"{PATHS['export']}/{target}", {"full_export": True})
    stack.server.when_query(annotation_write, lambda: stack.server.stall_after(0))
    try:
        stack.sync(target, "export")
        synced, _ = stack.wait_status(target, "export")
    finally:
        stack.server.resume()
    assert synced["status"] == "completed_with_errors" and synced["meta"]["export_pending"], synced
    assert "did not answer within" in synced["traceback"]
    case.sees(f"target Sync → {synced['status']}, export_pending, “{reason(synced['traceback'])}”")
    target_synced_exactly(stack, case, project, target)
    case.recovery = ["ApertureDB answers again", "the next submit (automatic export) or target Sync"]
    case.outcome = "all 6 annotations in ApertureDB once, in their final version; export_pending cleared"


def test_rq_worker_killed_mid_sync(stack, case):
    """The RQ worker SIGKILLed mid-sync (with the job it runs)"""
    seeded = seed_tagged_images(stack.server, "workerkill", 3000, boxes=1, random_seed=SEED)
    project = stack.project("Worker killed mid-sync")
    storage = stack.source(project, "workerkill", stack.secrets.key(stack.address))
    stack.server.when_query(page_query("workerkill", 1000),
                            lambda: (KILLED.setdefault("at", time.monotonic()), stack.kill_workers()))
    KILLED["job"] = stack.sync(storage)["last_sync_job"]
    wait_for(lambda: "at" in KILLED, "the workers killed", 120)
    stuck = stack.listed(storage)
    failed, seconds = stack.wait_status(storage, until=("failed",), timeout=120)
    seconds = time.monotonic() - KILLED["at"]

    assert stuck["status"] == "in_progress", stuck
    assert "last ping time is too old" in failed["traceback"], failed
    case.details["seconds_in_progress_after_kill"] = round(seconds, 1)
    case.sees(f"in_progress, then failed {seconds:.0f} s after the kill (Label Studio's stale-ping check, "
              f"5 × STORAGE_IN_PROGRESS_TIMER): “{reason(failed['traceback'])}”")
    stack.start_workers(2)
    case.recovery = ["start workers", "Sync"]
    resync_exactly(stack, case, project, storage, seeded)
    KILLED.update(project=project, storage=storage)


def test_postgresql_restarted_mid_sync(stack, case):
    """PostgreSQL restarted mid-sync"""
    seeded = seed_tagged_images(stack.server, "pgrestart", 3000, boxes=1, random_seed=SEED)
    project = stack.project("PostgreSQL restarted mid-sync")
    storage = stack.source(project, "pgrestart", stack.secrets.token())
    restarted = threading.Event()

    def restart():
        stack.pg.restart()
        restarted.set()

    stack.server.when_query(page_query("pgrestart", 1000), lambda: threading.Thread(target=restart).start())
    stack.sync(storage)
    assert restarted.wait(120)
    failed, seconds = stack.wait_status(storage, timeout=120)

    assert failed["status"] == "failed", failed
    # The database's own error, not a guess made later by a stale-job check.
    assert "django.db.utils." in failed["traceback"] and "It appears" not in failed["traceback"], failed["traceback"]
    case.details["seconds_to_failed"] = round(seconds, 1)
    case.sees(f"Sync → failed, its traceback ending “{reason(failed['traceback'])}”")
    case.recovery = ["Sync (once PostgreSQL is back)"]
    resync_exactly(stack, case, project, storage, seeded)


def test_two_syncs_of_one_storage_started_at_once(stack, case):
    """Two syncs of one storage started at once (two requests, two workers)"""
    seeded = seed_tagged_images(stack.server, "twice", 2000, boxes=1, random_seed=SEED)
    project = stack.project("Two syncs at once")
    storage = stack.source(project, "twice", stack.secrets.password())
    barrier, answers = threading.Barrier(2), []

    def request():
        barrier.wait()
        answers.append(stack.sync(storage))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done, _ = stack.wait_status(storage)

    assert len(answers) == 2 and done["status"] == "completed", (answers, done)
    assert task_problems(stack, project, storage, seeded) == []
    case.sees(f"both requests → 200 (status {', '.join(a['status'] for a in answers)}); one sync runs")
    case.recovery = ["none"]
    case.outcome = f"exactly {len(seeded)} tasks, their predictions exact, no duplicates"


def test_sixteen_annotators_while_aperturedb_flaps(stack, case):
    """16 annotators submitting and updating for 60 s while ApertureDB flaps (down 2 s, up 3 s)"""
    seeded, project, _ = synced_project(stack, "Annotators while ApertureDB flaps", "flapping", 4 * ANNOTATORS,
                                        stack.secrets.token())
    target = stack.target(project, stack.secrets.password())
    tasks = stack.task_ids(project)
    server, stop, flaps = stack.server, threading.Event(), Counter()
    statuses, failures = Counter(), []
    deadline = time.monotonic() + ANNOTATING_SECONDS

    def flap():
        while not stop.is_set():
            server.stop()
            stop.wait(DOWN_SECONDS)
            server.start()
            flaps["down"] += 1
            stop.wait(UP_SECONDS)

    def annotate(number: int):
        rng = random.Random(f"{SEED}-{number}")
        mine, saved = seeded[number * 4:(number + 1) * 4], {}
        while time.monotonic() < deadline:
            image = rng.choice(mine)
            result = random_boxes(rng, image, f"a{number}")
            try:
                if image.uniqueid in saved:
                    stack.update(saved[image.uniqueid], result)
                    statuses["update 200"] += 1
                else:
                    saved[image.uniqueid] = stack.annotate(tasks[image.uniqueid], result)["id"]
                    statuses["submit 201"] += 1
            except Exception as refused:  # noqa: BLE001 - Client.call names the status it did not expect
                failures.append(f"{type(refused).__name__}: {refused}"[:300])
            time.sleep(rng.uniform(0.3, 0.9))

    flapper = threading.Thread(target=flap)
    annotators = [threading.Thread(target=annotate, args=(n,)) for n in range(ANNOTATORS)]
    flapper.start()
    for thread in annotators:
        thread.start()
    for thread in annotators:
        thread.join()
    stop.set()
    flapper.join()
    if not server.running:
        server.start()

    assert failures == [], failures[:5]
    stack.wait_idle()
    left = annotation_problems(stack, project)
    meta = stack.meta(target)
    case.details.update(statuses=dict(statuses), flaps=flaps["down"], pending_after_run=len(left),
                        export_failures=meta.get("export_failures"))
    case.sees(f"{statuses['submit 201']} submits → 201 and {statuses['update 200']} updates → 200 through "
              f"{flaps['down']} outages, none refused; {meta.get('export_failures', 0)} exports failed and were kept "
              f"pending; {len(left)} annotations not yet in their final version once the queue drained")
    # What is not written yet must be known to be pending: otherwise it would be lost until someone syncs.
    assert not left or meta.get("export_pending"), left
    if left:
        target_synced_exactly(stack, case, project, target)
    annotations_exact(stack, case, project)
    (annotations,) = stack.sql("SELECT count(*) FROM task_completion WHERE project_id = %s", project)[0]
    case.recovery = ["target Sync (writes what is pending)" if left else
                     "none: each export that succeeded also wrote what earlier ones left pending"]
    case.outcome = f"all {annotations} annotations in ApertureDB once, in their final version"


def test_storages_keep_their_status_when_a_killed_workers_job_is_cleaned_up(stack, case):
    """A killed worker's job cleaned up by RQ after a later sync completed (workers restarted after its heartbeat
    expired)"""
    from redis import Redis

    assert "storage" in KILLED, "the worker-kill case did not run"
    redis = Redis.from_url(stack.redis.url)

    def abandoned() -> bool:
        return any(entry.decode().startswith(KILLED["job"]) for entry in redis.zrange("rq:wip:low", 0, -1))

    assert abandoned(), "the killed sync's job is not listed as started"
    expiry = 30 + 60 + 5  # RQ's job monitoring interval + 60 s: the killed job's heartbeat lapses
    time.sleep(max(0.0, KILLED["at"] + expiry - time.monotonic()))
    before = stack.listed(KILLED["storage"])
    stack.stop_workers()
    stack.start_workers(2)  # a starting worker cleans its registries: the abandoned job fails now
    wait_for(lambda: not abandoned(), "RQ to clean up the abandoned job", 120)
    time.sleep(1)
    after = stack.listed(KILLED["storage"])
    case.sees(f"the storage that re-synced after the kill: {before['status']} → {after['status']}")
    assert before["status"] == after["status"] == "completed", (before, after)
    case.recovery = ["none"]
    case.outcome = "the re-synced storage stays completed"


def test_certificate_replaced_by_another_ca(stack, case, tmp_path):
    """The server's certificate replaced by one from another CA mid-run"""
    seeded, project, source = synced_project(stack, "Certificate replaced", "recertified", 3, stack.secrets.password())
    target = stack.target(project, stack.secrets.token())
    tasks = stack.task_ids(project)
    stack.annotate(tasks[seeded[0].uniqueid], [box("r1", seeded[0], 5, 5, 30, 30)])
    wait_for(lambda: not annotation_problems(stack, project), "the first annotation written", 60, interval=1)
    server, original = stack.server, stack.server.certificates.ca.parent
    objects_before, old_ca = len(server.engine.store.objects), open(server.ca_cert).read()
    credentials = stack.secrets.password()
    server.stop()
    server.use_certificates(tmp_path / "another-ca")
    server.start()
    try:
        checked = stack.validate("import", project, credentials, expect=(400,), ca_cert=old_ca)
        refused_sync = stack.sync(source, expect=(400,))
        stack.annotate(tasks[seeded[1].uniqueid], [box("r1", seeded[1], 1, 2, 3, 4)])
        meta = wait_for(lambda: (m := stack.meta(target)).get("export_pending") and m, "export kept pending", 60)
        stack.wait_idle()
        objects_after = len(server.engine.store.objects)

        for answer in (checked, refused_sync):
            assert "could not be verified" in " ".join(errors_of(answer).get("ca_cert", [])), answer
        assert "could not be verified" in meta["last_export_error"], meta
        assert objects_after == objects_before
        case.sees(f"Check Connection and Sync → 400 on ca_cert: “{errors_of(checked)['ca_cert'][0]}”")
        case.sees(f"submit → 201; the target's last_export_error: “{meta['last_export_error']}”; nothing written")
        new_ca = open(server.ca_cert).read()
        for kind, storage in (("import", source), ("export", target)):
            stack.client.call("PATCH", f"/api/storages/{'aperturedb' if kind == 'import' else 'export/aperturedb'}/"
                                       f"{storage}", {"ca_cert": new_ca})
        target_synced_exactly(stack, case, project, target)
    finally:
        server.stop()
        server.use_certificates(original)
        server.start()
    case.recovery = ["give both storages the new CA (ca_cert)", "target Sync"]
    case.outcome = "nothing written while the certificate did not verify; then both annotations once, final"


def test_redis_down_when_an_annotation_is_submitted(stack, case):
    """Redis down when an annotation is submitted"""
    seeded, project, _ = synced_project(stack, "Redis down at submit", "redisdown", 4, stack.secrets.token())
    target = stack.target(project, stack.secrets.key(stack.address))
    tasks = stack.task_ids(project)
    stack.stop_redis()
    try:
        started = time.monotonic()
        annotation = stack.annotate(tasks[seeded[0].uniqueid], [box("r1", seeded[0], 5, 5, 30, 30)])
        stack.update(annotation["id"], [box("r1", seeded[0], 6, 6, 30, 30), box("r2", seeded[0], 40, 40, 9, 9)])
        seconds = time.monotonic() - started
    finally:
        stack.start_redis()
    case.sees(f"submit → 201 and update → 200 in {seconds:.2f} s together")
    stack.annotate(tasks[seeded[1].uniqueid], [box("r1", seeded[1], 1, 2, 3, 4)])  # through Redis again
    wait_for(lambda: not annotation_problems(stack, project), "both annotations in ApertureDB", 120, interval=1)
    assert not stack.meta(target).get("export_failures")
    case.recovery = ["start Redis again (empty); nothing else: the web server exported in its own threads while Redis "
                     "was down"]
    annotations_exact(stack, case, project)
    case.outcome = "both annotations in ApertureDB once, in their final version"


def test_redis_restarted_empty_with_an_export_queued(stack, case):
    """Redis restarted empty (no persistence) while an export waits in its queue"""
    seeded, project, _ = synced_project(stack, "Redis lost its queue", "redisempty", 3, stack.secrets.password())
    target = stack.target(project, stack.secrets.password())
    tasks = stack.task_ids(project)
    stack.stop_workers()
    stack.annotate(tasks[seeded[0].uniqueid], [box("r1", seeded[0], 5, 5, 30, 30)])
    stack.stop_redis()
    stack.start_redis()
    stack.start_workers(2)
    stack.annotate(tasks[seeded[1].uniqueid], [box("r1", seeded[1], 1, 2, 3, 4)])
    stack.wait_idle()
    missing = annotation_problems(stack, project)
    case.details["missing_before_sync"] = missing
    assert len(missing) == 1 and not stack.meta(target).get("export_pending"), missing
    case.sees("submits → 201; the export queued when Redis went away is gone with it: that annotation is not in "
              "ApertureDB, and nothing says it is pending (the next submit's export does not bring it)")
    target_synced_exactly(stack, case, project, target)
    case.recovery = ["target Sync"]
    case.outcome = "both annotations in ApertureDB once, in their final version"


def test_no_secret_in_answers_logs_redis_or_storages(stack, case):
    """Secrets: every storage's password, token or connection key, after the run above"""
    # Refusals that hold a secret the user typed: a wrong password or token on Check Connection, a create and an edit.
    secrets = stack.secrets
    (_, edited), project = next((key, project) for key, project in stack.storages.items() if key[0] == "import")
    wrong_password, wrong_token = f"WrongPw{os.urandom(9).hex()}", f"adbp_Wrong{os.urandom(12).hex()}"
    secrets.values += [("a wrong password", wrong_password), ("a wrong token", wrong_token)]
    refusals = [
        stack.validate("import", project, {"username": "fault-user-0", "password": wrong_password, "token": ""},
                       expect=(400,)),
        stack.validate("export", project, {"username": "", "password": "", "token": wrong_token}, expect=(400,)),
        stack.client.call("POST", "/api/storages/aperturedb/", stack.body(project, {
            "username": "", "password": "", "token": wrong_token}), expect=(400,)),
        stack.client.call("PATCH", f"/api/storages/aperturedb/{edited}", {"password": wrong_password}, expect=(400,)),
    ]
    assert [sorted(errors_of(answer)) for answer in refusals] == [["password"], ["token"], ["token"], ["password"]], \
        refusals
    for (kind, storage_id), project in stack.storages.items():
        path = "/api/storages/aperturedb" if kind == "import" else "/api/storages/export/aperturedb"
        stack.client.call("GET", f"{path}/{storage_id}")
        stack.client.call("GET", f"{path}{'/' if kind == 'import' else ''}?project={project}")
    found = [hit for method, path, status, raw in stack.client.responses
             for hit in secrets.found_in(raw, f"{method} {path} ({status})")]
    logs = [stack.data_dir / "label-studio.log", *stack.worker_logs]
    debug_lines = {}
    for log in logs:
        text = log.read_bytes()
        debug_lines[log.name] = text.count(b"[DEBUG]")
        found += secrets.found_in(text, log.name)
    values = stack.redis_kept + redis_values(stack.redis.url)
    for key, value in values:
        found += secrets.found_in(value, f"Redis {key}")
    found += storage_secrets(stack)
    jobs = {key.split(" ")[0] for key, _ in values if key.startswith("rq:job:")}
    SCAN.update(secrets=len(secrets.values), api_answers=len(stack.client.responses), logs=len(logs),
                log_bytes=sum(log.stat().st_size for log in logs), debug_lines=sum(debug_lines.values()),
                redis_values=len(values), rq_jobs=len(jobs), storages=len(stack.storages), found=found)

    assert debug_lines["label-studio.log"] > 0 and all(debug_lines[log.name] > 0 for log in stack.worker_logs), \
        debug_lines  # the logs were written at DEBUG
    assert len(jobs) > 10 and len(secrets.values) >= 10
    case.sees(f"{len(secrets.values)} secrets looked for in {len(stack.client.responses)} API answers, "
              f"{len(logs)} logs at DEBUG ({SCAN['log_bytes'] // 1024} KiB), {len(values)} Redis values "
              f"({len(jobs)} RQ jobs) and {len(stack.storages)} storages' meta and traceback: {len(found)} found")
    case.recovery = ["none"]
    case.outcome = f"{len(found)} secrets found"
    assert found == []
