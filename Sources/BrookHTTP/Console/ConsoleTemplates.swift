import Mustache

/// The console's pages, compiled into the binary: no files to install, no CDN. `{{…}}` escapes
/// HTML; the templates never use the unescaped `{{{…}}}`.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            // The templates are constants: one that does not parse is a bug in this build.
            try! library.register(text, named: name)
        }
        return library
    }()

    static let templates: [String: String] = [
        "header": header, "footer": footer, "overview": overview, "topic": topic, "groups": groups, "group": group, "error": error, "login": login,
    ]

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Brook</title>
        <link rel="stylesheet" href="/console.css">
        <script src="/console.js" defer></script>
        </head>
        <body>
        <nav><a class="brand" href="/">Brook</a><a href="/">Topics</a><a href="/groups">Consumer groups</a><a href="/metrics">Metrics</a>{{#user}}<span class="session"><span id="user">{{user}}</span><form method="post" action="/logout" id="logout"><button>Log out</button></form></span>{{/user}}</nav>
        <main>
        """

    static let footer = """
        </main>
        </body>
        </html>
        """

    static let overview = """
        {{> header}}
        <h1>Topics</h1>
        <section class="stats">
        <div><span class="number" id="topic-count">{{topicCount}}</span> topics</div>
        <div><span class="number" id="message-count">{{messageCount}}</span> messages</div>
        <div><span class="number">{{byteCount}}</span> on disk</div>
        <div><span class="number" id="throughput">–</span> records/s produced</div>
        </section>
        {{#hasTopics}}
        <table id="topics">
        <thead><tr><th>Topic</th><th>Partitions</th><th>Messages</th><th>Bytes</th></tr></thead>
        <tbody>
        {{#topics}}
        <tr><td><a href="/topics/{{link}}">{{name}}</a></td><td>{{partitions}}</td><td>{{messages}}</td><td>{{bytes}}</td></tr>
        {{/topics}}
        </tbody>
        </table>
        {{/hasTopics}}
        {{^hasTopics}}<p>No topics yet.</p>{{/hasTopics}}
        {{#canCreate}}
        <h2>Create a topic</h2>
        <form method="post" action="/topics" id="create-topic" class="inline">
        <label>Name <input name="name" required></label>
        <label>Partitions <input name="partitions" type="number" min="1" value="1"></label>
        <button>Create</button>
        </form>
        {{/canCreate}}
        {{> footer}}
        """

    static let topic = """
        {{> header}}
        <h1>Topic {{name}}</h1>
        <h2>Partitions</h2>
        <table id="partitions">
        <thead><tr><th>Partition</th><th>Log start</th><th>High watermark</th><th>Messages</th><th>Bytes</th></tr></thead>
        <tbody>
        {{#partitions}}<tr><td>{{index}}</td><td>{{logStart}}</td><td>{{highWatermark}}</td><td>{{messages}}</td><td>{{bytes}}</td></tr>
        {{/partitions}}
        </tbody>
        </table>
        <h2>Configs</h2>
        {{#configsRefused}}<p class="refused" id="configs-refused">{{configsRefused}}</p>{{/configsRefused}}
        {{^configsRefused}}
        <table id="configs"><tbody>
        {{#configs}}<tr><th>{{name}}</th><td>{{value}}</td></tr>
        {{/configs}}
        </tbody></table>
        {{/configsRefused}}
        <h2>Messages</h2>
        {{#browseRefused}}<p class="refused" id="browse-refused">{{browseRefused}}</p>{{/browseRefused}}
        {{#canBrowse}}
        <form method="get" action="/topics/{{link}}" id="browse" class="inline">
        <label>WHERE <input name="where" id="filter" size="60" value="{{filter}}" placeholder="key = 'u1' AND json_extract(value, '$.total') > 5"></label>
        <button>Filter</button>
        </form>
        {{#queryError}}<p class="error" id="query-error">{{queryError}}</p>{{/queryError}}
        {{#hasMessages}}
        <table id="messages">
        <thead><tr><th>Partition</th><th>Offset</th><th>Time</th><th>Key</th><th>Headers</th><th>Value</th></tr></thead>
        <tbody>
        {{#messages}}
        <tr class="message"><td>{{partition}}</td><td class="offset">{{offset}}</td><td>{{timestamp}}</td><td class="key">{{key}}</td>
        <td class="headers">{{#headers}}<div>{{name}}: {{value}}</div>{{/headers}}</td><td><pre class="value">{{value}}</pre></td></tr>
        {{/messages}}
        </tbody>
        </table>
        <p class="pages">Page {{page}} · {{shown}} shown {{#previous}}<a href="{{previous}}" id="previous">← previous</a>{{/previous}} {{#next}}<a href="{{next}}" id="next">next →</a>{{/next}}</p>
        {{/hasMessages}}
        {{^hasMessages}}{{^queryError}}<p id="no-messages">No messages match.</p>{{/queryError}}{{/hasMessages}}
        {{/canBrowse}}
        {{#canProduce}}
        <h2>Produce a message</h2>
        <form method="post" action="/topics/{{link}}/produce" id="produce">
        <label>Key <input name="key" id="produce-key"></label>
        <label>Partition <input name="partition" id="produce-partition" size="4" placeholder="auto"></label>
        <label>Headers <textarea name="headers" id="produce-headers" rows="2" placeholder="name: value"></textarea></label>
        <label>Value <textarea name="value" id="produce-value" rows="4"></textarea></label>
        <button id="produce-button">Produce</button>
        </form>
        {{/canProduce}}
        {{#canDelete}}
        <h2>Delete</h2>
        <form method="post" action="/topics/{{link}}/delete" id="delete-topic" data-confirm="Delete topic {{name}} and all its messages?">
        <button class="danger">Delete topic {{name}}</button>
        </form>
        {{/canDelete}}
        {{> footer}}
        """

    static let groups = """
        {{> header}}
        <h1>Consumer groups</h1>
        {{#hasGroups}}
        <table id="groups">
        <thead><tr><th>Group</th><th>State</th><th>Members</th></tr></thead>
        <tbody>
        {{#groups}}<tr><td><a href="/groups/{{link}}">{{name}}</a></td><td>{{state}}</td><td>{{members}}</td></tr>
        {{/groups}}
        </tbody>
        </table>
        {{/hasGroups}}
        {{^hasGroups}}<p>No consumer groups yet.</p>{{/hasGroups}}
        {{> footer}}
        """

    static let group = """
        {{> header}}
        <h1>Group {{name}}</h1>
        <p>State <b id="group-state">{{state}}</b>, generation {{generation}}, total lag <b id="total-lag">{{totalLag}}</b></p>
        <h2>Members</h2>
        {{#hasMembers}}
        <table id="members">
        <thead><tr><th>Member</th><th>Client</th><th>Host</th><th>Assignment</th></tr></thead>
        <tbody>
        {{#members}}<tr><td>{{memberID}}</td><td>{{clientID}}</td><td>{{clientHost}}</td><td>{{assignment}}</td></tr>
        {{/members}}
        </tbody>
        </table>
        {{/hasMembers}}
        {{^hasMembers}}<p>No members.</p>{{/hasMembers}}
        <h2>Offsets and lag</h2>
        <table id="offsets">
        <thead><tr><th>Topic</th><th>Partition</th><th>Committed</th><th>Log end</th><th>Lag</th><th>Member</th></tr></thead>
        <tbody>
        {{#offsets}}<tr><td>{{topic}}</td><td>{{partition}}</td><td>{{committed}}</td><td>{{logEnd}}</td><td class="lag">{{lag}}</td><td>{{member}}</td></tr>
        {{/offsets}}
        </tbody>
        </table>
        {{#resettable}}
        <h2>Reset offsets</h2>
        <form method="post" action="/groups/{{link}}/reset" id="reset" class="inline">
        <label>Topic <select name="topic">{{#topics}}<option>{{name}}</option>{{/topics}}</select></label>
        <label>To <input name="target" value="earliest" placeholder="earliest, latest, offset=N, timestamp=MS"></label>
        <button>Reset</button>
        </form>
        {{/resettable}}
        {{> footer}}
        """

    static let login = """
        {{> header}}
        <h1>Log in to Brook</h1>
        <p>With a user of this server (<code>brook users add</code>); what you see and may do follows the server's ACLs.</p>
        {{#failed}}<p class="error" id="login-failed">Unknown user or wrong password.</p>{{/failed}}
        <form method="post" action="/login" id="login">
        <input type="hidden" name="next" value="{{next}}">
        <label>User <input name="user" id="login-user" value="{{name}}" autocomplete="username" required autofocus></label>
        <label>Password <input name="password" id="login-password" type="password" autocomplete="current-password" required></label>
        <button id="login-button">Log in</button>
        </form>
        {{> footer}}
        """

    static let error = """
        {{> header}}
        <h1>{{#refused}}Not allowed{{/refused}}{{^refused}}That did not work{{/refused}}</h1>
        <p class="error" id="error">{{message}}</p>
        <p><a href="{{back}}">Back</a></p>
        {{> footer}}
        """
}
