"""Edits Reloader's source (a copy) so it builds from the Go module proxy and binds where the
benchmark says. Every edit must match exactly once, so a new Reloader version fails loudly
here instead of building something else. Run by build.sh: `python3 patch.py SRC_DIR`."""

from __future__ import annotations

import sys
from pathlib import Path

LISTEN_FILE = "internal/pkg/cmd/zz_bench_listen.go"
LISTEN_GO = """package cmd

import (
\t"os"

\t"github.com/stakater/Reloader/internal/pkg/constants"
)

// httpListenAddr is $RELOADER_HTTP_ADDR when set (added for rollout-operator's benchmark,
// which binds 127.0.0.1 on a free port), else upstream's hard-coded address.
func httpListenAddr() string {
\tif addr := os.Getenv("RELOADER_HTTP_ADDR"); addr != "" {
\t\treturn addr
\t}
\treturn constants.DefaultHttpListenAddr
}
"""

#: (file, old text, new text): the OpenShift DeploymentConfig client goes, the listen address
#: becomes configurable.
EDITS: list[tuple[str, str, str]] = [
    (
        "pkg/kube/client.go",
        '\tappsclient "github.com/openshift/client-go/apps/clientset/versioned"\n',
        "",
    ),
    ("pkg/kube/client.go", "\tOpenshiftAppsClient appsclient.Interface\n", ""),
    (
        "pkg/kube/client.go",
        "\tvar appsClient *appsclient.Clientset\n\n"
        "\tif IsOpenshift {\n"
        "\t\tappsClient, err = GetOpenshiftAppsClient()\n"
        "\t\tif err != nil {\n"
        '\t\t\tlogrus.Warnf("Unable to create Openshift Apps client error = %v", err)\n'
        "\t\t}\n"
        "\t}\n\n",
        "",
    ),
    ("pkg/kube/client.go", "\t\tOpenshiftAppsClient: appsClient,\n", ""),
    (
        "pkg/kube/client.go",
        "// GetOpenshiftAppsClient returns an Openshift Client that can query on Apps\n"
        "func GetOpenshiftAppsClient() (*appsclient.Clientset, error) {\n"
        "\tconfig, err := getConfig()\n"
        "\tif err != nil {\n"
        "\t\treturn nil, err\n"
        "\t}\n"
        "\treturn appsclient.NewForConfig(config)\n"
        "}\n",
        "",
    ),
    # The delete handler takes one hash function from the test helpers, which import the
    # OpenShift API: compute the same marker hash without them.
    (
        "internal/pkg/handler/delete.go",
        '\t"github.com/stakater/Reloader/internal/pkg/testutil"\n',
        '\t"github.com/stakater/Reloader/internal/pkg/crypto"\n',
    ),
    (
        "internal/pkg/handler/delete.go",
        "testutil.GetSHAfromEmptyData()",
        'crypto.GenerateSHA("__RELOADER_EMPTY_DELETE_MARKER__")',
    ),
    (
        "internal/pkg/cmd/reloader.go",
        "http.ListenAndServe(constants.DefaultHttpListenAddr, nil)",
        "http.ListenAndServe(httpListenAddr(), nil)",
    ),
]


def patch(src: Path) -> None:
    for name, old, new in EDITS:
        path = src / name
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"patch.py: {name}: expected text found {text.count(old)} times")
        path.write_text(text.replace(old, new))
    (src / LISTEN_FILE).write_text(LISTEN_GO)
    print(f"patch.py: {len(EDITS)} edits applied", file=sys.stderr)


if __name__ == "__main__":
    patch(Path(sys.argv[1]))
