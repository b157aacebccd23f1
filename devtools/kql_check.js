// Checks KQL queries with Microsoft's Kusto language service (@kusto/language-service-next),
// against the tables and columns given: syntax errors and unknown names are reported.
// stdin: {"tables": {"traces": [["timestamp", "datetime"], ...]}, "queries": ["traces | ..."]}
// stdout: [["error", ...], ...], one list of error messages per query.
require("@kusto/language-service-next/bridge.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.js");

const K = global.Kusto.Language;
const S = K.Symbols;
const TYPES = {
  string: S.ScalarTypes.String,
  datetime: S.ScalarTypes.DateTime,
  dynamic: S.ScalarTypes.Dynamic,
  int: S.ScalarTypes.Int,
  long: S.ScalarTypes.Long,
  real: S.ScalarTypes.Real,
  bool: S.ScalarTypes.Bool,
  timespan: S.ScalarTypes.TimeSpan,
};

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { tables, queries } = JSON.parse(input);
  const symbols = Object.entries(tables).map(
    ([name, columns]) =>
      new S.TableSymbol.$ctor4(
        name,
        columns.map(([column, type]) => {
          if (!(type in TYPES)) throw new Error(`unknown column type ${type}`);
          return new S.ColumnSymbol(column, TYPES[type]);
        }),
      ),
  );
  const database = new S.DatabaseSymbol.ctor("applicationinsights", symbols);
  const cluster = new S.ClusterSymbol.ctor("applicationinsights", [database]);
  const globals = K.GlobalState.Default.WithCluster(cluster).WithDatabase(database);
  const results = queries.map((query) => {
    const diagnostics = K.KustoCode.ParseAndAnalyze(query, globals).GetDiagnostics();
    const errors = [];
    for (let i = 0; i < diagnostics.Count; i++) {
      const diagnostic = diagnostics.getItem(i);
      if (diagnostic.Severity === "Error") errors.push(diagnostic.Message);
    }
    return errors;
  });
  process.stdout.write(JSON.stringify(results));
});
