"""A synthetic but ML-shaped notebook of N cells for the lab latency bench (imports, data, training,
evaluation, a few unsafe loads, an http download, a pasted token...)."""
from __future__ import annotations

SNIPPETS = [
    "import numpy as np\nimport pandas as pd\nimport torch\nimport pickle as pk\nimport requests",
    "df = pd.read_csv('data/train_{i}.csv')\ndf = df.dropna()\nprint(df.shape)",
    "X = df.drop(columns=['label']).values\ny = df['label'].values\nX = (X - X.mean(0)) / (X.std(0) + 1e-8)",
    "model = torch.nn.Sequential(\n    torch.nn.Linear({i} % 50 + 10, 64),\n    torch.nn.ReLU(),\n    torch.nn.Linear(64, 2),\n)",
    "opt = torch.optim.Adam(model.parameters(), lr=1e-3)\nfor epoch in range(3):\n    loss = torch.nn.functional.cross_entropy(model(torch.tensor(X[:32]).float()), torch.tensor(y[:32]))\n    opt.zero_grad(); loss.backward(); opt.step()\n    print(epoch, loss.item())",
    "with open('features_{i}.pkl', 'rb') as fh:\n    feats = pk.load(fh)",
    "state = torch.load('ckpt_{i}.pt', weights_only=False)\nmodel.load_state_dict(state)",
    "resp = requests.get('http://example.com/weights_{i}.bin')\nopen('w.bin', 'wb').write(resp.content)",
    "def accuracy(pred, true):\n    return float((pred.argmax(1) == true).float().mean())\n\nprint(accuracy(model(torch.tensor(X).float()), torch.tensor(y)))",
    "import matplotlib.pyplot as plt\nplt.plot(np.arange({i} % 17 + 5))\nplt.title('run {i}')\nplt.show()",
    "results = {{'run': {i}, 'acc': 0.9}}\nsummary = pd.DataFrame([results])\nsummary.head()",
    "%pip install scikit-learn==1.4.2\nfrom sklearn.linear_model import LogisticRegression\nclf = LogisticRegression(max_iter=200).fit(X, y)",
]


def cells(n: int = 300) -> list[str]:
    out = []
    for i in range(n):
        out.append(SNIPPETS[i % len(SNIPPETS)].format(i=i))
    return out
