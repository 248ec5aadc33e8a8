import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { ApiClient } from './api/client';
import { App } from './App';
import './styles.css';

const container = document.getElementById('root');
if (container) {
  createRoot(container).render(
    <StrictMode>
      <App client={new ApiClient()} />
    </StrictMode>,
  );
}
