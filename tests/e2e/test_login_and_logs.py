"""Login and task logs on a real cluster: the password from the auth Secret, the UI's own login form, a
task's log while its pod runs (Kubernetes API) and after its pod is gone (the shared logs claim).

One release for the module, two api-server replicas; tests run in file order and build on it. The browser
test needs Debian's `chromium` and `chromium-driver` and Selenium (dev dependencies); it saves a screenshot
under `.state/`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci"))
from airflow_api import AirflowApi, release_password  # noqa: E402
from release import HELM, KUBECTL, SEED_DAG, demo_values, fullname, helm, kubectl_json, task_pods, wait_ready  # noqa: E402

pytestmark = pytest.mark.e2e
NAMESPACE = "e2e-login"
RELEASE = "e2e-login"
SEED_TASK = "resource_requirements_override_example"
SEED_OUTPUT = "annotated!"  # what the seed task prints (airflow.example_dags.libs.helper.print_stuff)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def release(cluster_kubeconfig: str) -> Iterator[str]:
    """Install with two api-server replicas and the shared logs claim; yield the api-server base URL."""
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait"], check=True)
    values = demo_values(apiServer={"replicas": 2}, logs={"persistence": {
        "enabled": True, "storageClassName": "local-path-shared", "accessMode": "ReadWriteMany", "size": "1Gi"}})
    helm("install", RELEASE, str(ROOT / "chart"), "--namespace", NAMESPACE, "--create-namespace", values=values)
    wait_ready(NAMESPACE, RELEASE, timeout=600)
    yield AirflowApi.for_release(NAMESPACE, fullname(RELEASE)).base_url
    subprocess.run([HELM, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"], check=False)
    subprocess.run([KUBECTL, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"], check=False)


@pytest.fixture(scope="module")
def password(release: str) -> str:
    return release_password(NAMESPACE, fullname(RELEASE))


@pytest.fixture(scope="module")
def seed_run(release: str, password: str) -> dict[str, str]:
    api = AirflowApi.login(release, "admin", password)
    api.wait_for_dag(SEED_DAG, timeout=300)
    return {"run_id": api.trigger(SEED_DAG)}


def api_server_pod_ips() -> list[str]:
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l",
                        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=api-server")["items"]
    return [p["status"]["podIP"] for p in pods if p["status"].get("phase") == "Running"]


def test_the_secrets_password_works_on_each_replica(release: str, password: str) -> None:
    ips = wait_for("two running api-server pods", lambda: (found := api_server_pod_ips()) and len(found) == 2
                   and found, timeout=300)
    for ip in ips:
        api = AirflowApi.login(f"http://{ip}:8080", "admin", password)
        assert api.call("GET", "/monitor/health")


def test_a_running_tasks_log_is_read_from_its_pod(release: str, password: str, seed_run: dict[str, str]) -> None:
    api = AirflowApi.login(release, "admin", password)
    run_id = seed_run["run_id"]
    wait_for("the seed task to run", lambda: api.task_states(SEED_DAG, run_id).get(SEED_TASK) == "running",
             timeout=300)
    assert task_pods(NAMESPACE, SEED_DAG), "the task's pod runs"
    # The task sleeps 60 s after printing: its output is in the pod's log, read through the Kubernetes API.
    lines = wait_for("the running task's output in its log",
                     lambda: (log := api.task_log(SEED_DAG, run_id, SEED_TASK)) and any(SEED_OUTPUT in line
                                                                                        for line in log) and log,
                     timeout=120, show=lambda: str(api.task_log(SEED_DAG, run_id, SEED_TASK)[-3:]))
    assert lines


def test_a_finished_tasks_log_outlives_its_pod(release: str, password: str, seed_run: dict[str, str]) -> None:
    api = AirflowApi.login(release, "admin", password)
    assert api.wait_for_run(SEED_DAG, seed_run["run_id"], timeout=600) == "success"
    wait_for("the task pod to be deleted", lambda: not task_pods(NAMESPACE, SEED_DAG), timeout=120)
    log = api.task_log(SEED_DAG, seed_run["run_id"], SEED_TASK)
    assert any(SEED_OUTPUT in line for line in log), log[-10:]


def test_the_ui_login_form_and_the_log_page(release: str, password: str, seed_run: dict[str, str]) -> None:
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        pytest.fail("chromedriver is missing: apt-get install -y chromium chromium-driver", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # The log tab renders only when the page is tall enough to show it (the default window is too small).
        options.add_argument("--window-size=1600,1200")
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        try:
            wait = WebDriverWait(driver, 60)
            driver.get(f"{release}/")
            # The auth manager's own login form (the UI redirects there); selectors checked against a local
            # `airflow api-server` 3.3.2 with headless Chromium 156.
            wait.until(expected_conditions.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
            driver.find_element(By.NAME, "password").send_keys(password)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait.until(lambda d: "/login" not in d.current_url)
            run_id = seed_run["run_id"]
            # The task instance page opens on its Logs tab.
            driver.get(f"{release}/dags/{SEED_DAG}/runs/{run_id}/tasks/{SEED_TASK}")
            wait.until(lambda d: SEED_OUTPUT in d.find_element(By.TAG_NAME, "body").text)
        finally:
            shots = ROOT / ".state" / "e2e"
            shots.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shots / f"task-log-{int(time.time())}.png"))
            driver.quit()


def test_the_password_survives_an_api_server_restart(release: str, password: str) -> None:
    before = set(api_server_pod_ips())
    subprocess.run([KUBECTL, "-n", NAMESPACE, "rollout", "restart", f"deployment/{fullname(RELEASE)}-api-server"],
                   check=True)
    subprocess.run([KUBECTL, "-n", NAMESPACE, "rollout", "status", f"deployment/{fullname(RELEASE)}-api-server",
                    "--timeout=300s"], check=True)
    ips = wait_for("two new api-server pods", lambda: (found := set(api_server_pod_ips())) and len(found) == 2
                   and not found & before and found, timeout=300)
    assert release_password(NAMESPACE, fullname(RELEASE)) == password
    for ip in ips:
        AirflowApi.login(f"http://{ip}:8080", "admin", password)
