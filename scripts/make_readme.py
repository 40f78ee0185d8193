"""Write README.md from nbs/index.ipynb's markdown cells (nbdev-readme needs quarto, which is not always installable)."""
import json, re
from pathlib import Path
root = Path(__file__).parent.parent
nb = json.loads((root/'nbs'/'index.ipynb').read_text())
parts = [''.join(c['source']) for c in nb['cells'] if c['cell_type']=='markdown']
text = '\n\n'.join(parts)
text = re.sub(r'^> ', '', text, count=1, flags=re.M)          # nbdev's description line
(root/'README.md').write_text("<!-- generated from nbs/index.ipynb by scripts/make_readme.py; edit the notebook -->\n\n" + text + '\n')
print('wrote README.md')
